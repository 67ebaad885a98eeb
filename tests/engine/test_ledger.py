"""ledger.Entry: named fields on labels shared between runs, at the memory of a plain tuple."""

from __future__ import annotations

import sys

from exporter.engine.ledger import CREDITED, Entry, RunLabels


def entry(status: str = "PROCESSING", counted: tuple[str, ...] = ()) -> Entry:
    return Entry(status, "API", "EXTRACT", 100.0, 110.0, counted, "ex_1")


def test_runs_with_the_same_labels_share_one_labels_object() -> None:
    a, b = entry(), entry()
    assert a.labels is b.labels
    b.status = "PROCESSED"
    c = entry("PROCESSED")
    assert b.labels is c.labels and a.labels is not b.labels


def test_labels_are_named_and_the_size_of_a_plain_tuple() -> None:
    labels = entry(counted=(CREDITED,)).labels
    assert isinstance(labels, RunLabels)
    assert tuple(labels) == ("PROCESSING", "API", "EXTRACT", (CREDITED,), "ex_1")
    assert (labels.status, labels.source, labels.processor_type) == ("PROCESSING", "API", "EXTRACT")
    assert labels.counted == (CREDITED,) and labels.resource_id == "ex_1"
    assert sys.getsizeof(labels) == sys.getsizeof(tuple(labels))
    assert not hasattr(labels, "__dict__") and not hasattr(entry(), "__dict__")


def test_setting_one_field_keeps_the_others() -> None:
    e = entry()
    e.status = "FAILED"
    e.counted = ("FAILED",)
    e.resource_id = None
    assert e.labels == RunLabels("FAILED", "API", "EXTRACT", ("FAILED",), None)
    assert (e.status, e.source, e.processor_type, e.counted, e.resource_id) == e.labels
    assert (e.created_at, e.key) == (100.0, 110.0)


def test_entries_compare_by_value() -> None:
    assert entry() == entry()
    assert entry() != entry("FAILED")
    assert "status='PROCESSING'" in repr(entry())
