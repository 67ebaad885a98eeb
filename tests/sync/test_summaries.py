"""summaries: what the sync reads of a run summary besides the Observation."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.sync.summaries import file_name


@pytest.mark.parametrize(
    ("summary", "name"),
    [
        ({"file": {"name": "invoice.pdf"}}, "invoice.pdf"),
        ({"file": {"name": ""}}, None),
        ({"file": {"name": 3}}, None),
        ({"file": None}, None),
        ({"file": "invoice.pdf"}, None),
        ({}, None),
    ],
)
def test_file_name_is_a_non_empty_string_or_none(summary: dict[str, Any], name: str | None) -> None:
    assert file_name(summary) == name
