"""The README's reference tables and docs/metrics.md come from the code; this fails when they drift."""

from __future__ import annotations

from exporter.docs import METRICS_DOC, README, metrics_reference, render


def test_readme_tables_match_the_code() -> None:
    current = README.read_text()
    assert render(current) == current, "README.md reference tables are out of date: run `make docs`"


def test_metrics_reference_matches_the_code() -> None:
    assert METRICS_DOC.read_text() == metrics_reference(), "docs/metrics.md is out of date: run `make docs`"


def test_readme_starts_with_the_two_commands() -> None:
    text = README.read_text()
    quick = text.index("make demo")
    assert quick < text.index("make test") < text.index("## Configuration")
