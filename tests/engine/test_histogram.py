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
