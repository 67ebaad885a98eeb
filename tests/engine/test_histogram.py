"""histogram.Histogram: per-bucket counts, and the state file's form of them."""

from __future__ import annotations

import math

import pytest

from exporter.engine.histogram import DURATION_BUCKETS, Histogram


def test_observe_counts_each_value_in_its_first_fitting_bucket() -> None:
    hist = Histogram.empty()
    for value in (0.5, 1.0, 1.5, 20_000.0, math.nan):
        hist.observe(value)
    assert hist.buckets[:2] == [2, 1] and hist.buckets[-1] == 1
    assert sum(hist.buckets) == 4 and hist.count == 5  # NaN fits no bucket, still counted


def test_value_and_restore_round_trip() -> None:
    hist = Histogram.empty()
    hist.observe(3.0)
    buckets, total, count = hist.value()
    assert (sum(buckets), total, count) == (1, 3.0, 1)
    assert Histogram.restore(list(buckets), total, count) == hist


def test_restore_rejects_buckets_of_another_version() -> None:
    with pytest.raises(ValueError, match="buckets differ"):
        Histogram.restore([0] * (len(DURATION_BUCKETS) - 1), 0.0, 0)


def test_a_bucket_keeps_the_run_that_finished_last_as_its_example() -> None:
    hist = Histogram.empty(examples=True)
    hist.observe(3.0, "a", finished_at=100.0)
    hist.observe(4.0, "b", finished_at=90.0)  # same bucket, finished earlier: not the example
    hist.observe(0.5, "c", finished_at=80.0)
    hist.observe(math.nan, "d", finished_at=200.0)  # fits no bucket, names none
    assert hist.examples_by_bucket() == {"5.0": ("a", 3.0, 100.0), "1.0": ("c", 0.5, 80.0)}
    assert Histogram.empty().examples_by_bucket() == {}  # a histogram without examples keeps none
    restored = Histogram.restore(*hist.value(), examples=True)
    restored.restore_example("5.0", ("a", 3.0, 100.0))
    assert restored.examples_by_bucket() == {"5.0": ("a", 3.0, 100.0)}
    with pytest.raises(ValueError):
        restored.restore_example("4.0", ("x", 4.0, 1.0))
