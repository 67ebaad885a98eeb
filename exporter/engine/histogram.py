"""The duration histogram of the run families: fixed buckets, counts kept as plain ints.

A leaf module: the engine (run durations) and the accumulators (Extend's processing time) both
hold these, and the collector renders them with `DURATION_BUCKETS`.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any

# Seconds to hours: document runs take a few seconds (parse) to hours (review queues, big batches).
DURATION_BUCKETS: tuple[float, ...] = (
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1200.0,
    1800.0,
    3600.0,
    7200.0,
    14400.0,
    math.inf,
)

# A histogram's value as a snapshot holds it: (per-bucket counts, sum, count).
HistogramValue = tuple[tuple[int, ...], float, int]


@dataclass(slots=True)
class Histogram:
    buckets: list[int]  # per bucket of DURATION_BUCKETS, not cumulative
    total: float = 0.0
    count: int = 0

    @classmethod
    def empty(cls) -> Histogram:
        return cls([0] * len(DURATION_BUCKETS))

    @classmethod
    def restore(cls, buckets: Any, total: Any, count: Any) -> Histogram:
        """From the state file's [buckets, total, count]; ValueError when the buckets differ."""
        if len(buckets) != len(DURATION_BUCKETS):
            raise ValueError("histogram buckets differ from this version's")
        return cls([int(b) for b in buckets], float(total), int(count))

    def observe(self, value: float) -> None:
        i = bisect_left(DURATION_BUCKETS, value)  # the first bucket with value <= bound
        if i < len(DURATION_BUCKETS) and value <= DURATION_BUCKETS[i]:  # (NaN fits none)
            self.buckets[i] += 1
        self.total += value
        self.count += 1

    def value(self) -> HistogramValue:
        return tuple(self.buckets), self.total, self.count
