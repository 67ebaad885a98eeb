"""Figures the reliability tests measure (fault table, soak, CPU), printed after the run.

A test hands them over as user properties of its report, so that they reach the process that prints
the summary also when pytest-xdist runs the tests in worker processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest

_FAULT_ROW = "fault row"
_FIGURE = "figure"
_fault_rows: list[dict[str, Any]] = []
_figures: dict[str, str] = {}


@pytest.fixture
def fault_table(request: pytest.FixtureRequest) -> Iterator[list[dict[str, Any]]]:
    """Rows a test adds to the fault table."""
    rows: list[dict[str, Any]] = []
    yield rows
    request.node.user_properties.extend((_FAULT_ROW, row) for row in rows)


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Named figures a test measured."""
    found: dict[str, str] = {}
    yield found
    request.node.user_properties.extend((_FIGURE, item) for item in found.items())


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "teardown":
        return
    for name, value in report.user_properties:
        if name == _FAULT_ROW:
            _fault_rows.append(cast(dict[str, Any], value))
        elif name == _FIGURE:
            key, text = cast(tuple[str, str], value)
            _figures[key] = text


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _fault_rows and not _figures:
        return
    tr = terminalreporter
    tr.section("reliability figures")
    if _fault_rows:
        cols = ["fault", "exporter did", "requests (code: n)", "max /metrics ms", "exact"]
        rows = [[str(r.get(c, "")) for c in cols] for r in _fault_rows]
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
        tr.write_line(" | ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
        for r in rows:
            tr.write_line(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    for name, value in _figures.items():
        tr.write_line(f"{name}: {value}")
