"""example_runs: which run stands for a series, and the state file's form of them."""

from __future__ import annotations

import pytest

from exporter.engine.example_runs import Examples, from_rows, offer, to_rows


def test_a_run_that_finished_later_or_at_the_same_time_replaces_the_example() -> None:
    examples: Examples = {}
    offer(examples, ("FAILED",), "a", 1.0, 100.0)
    offer(examples, ("FAILED",), "b", 1.0, 90.0)  # finished earlier, seen later: the time must not go back
    assert examples == {("FAILED",): ("a", 1.0, 100.0)}
    offer(examples, ("FAILED",), "c", 1.0, 100.0)
    offer(examples, ("OTHER",), "d", 1.0, 50.0)
    assert examples == {("FAILED",): ("c", 1.0, 100.0), ("OTHER",): ("d", 1.0, 50.0)}


def test_rows_round_trip_and_malformed_rows_raise() -> None:
    by_family: dict[str, Examples] = {
        "extend_runs_failed": {("INTERNAL_ERROR",): ("exr_1", 1.0, 12.5)},
        "empty": {},
    }
    assert from_rows(to_rows(by_family)) == by_family
    malformed: object
    for malformed in ([], {"f": [[["x"], "run"]]}, {"f": [[["x"], "run", "one", 2.0]]}):
        with pytest.raises((TypeError, ValueError)):
            from_rows(malformed)
