"""Reliability suite: collects the figures (fault table, soak, CPU) and prints them after the run."""

from __future__ import annotations

from typing import Any

import pytest

FAULT_ROWS: list[dict[str, Any]] = []
FIGURES: dict[str, str] = {}


@pytest.fixture
def fault_table() -> list[dict[str, Any]]:
    return FAULT_ROWS


@pytest.fixture
def figures() -> dict[str, str]:
    return FIGURES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FAULT_ROWS and not FIGURES:
        return
    tr = terminalreporter
    tr.section("reliability figures")
    if FAULT_ROWS:
        cols = ["fault", "exporter did", "requests (code: n)", "max /metrics ms", "exact"]
        rows = [[str(r.get(c, "")) for c in cols] for r in FAULT_ROWS]
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
        tr.write_line(" | ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
        for r in rows:
            tr.write_line(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    for name, value in FIGURES.items():
        tr.write_line(f"{name}: {value}")
