"""The duration histogram of the run families: fixed buckets, counts kept as plain ints.

A leaf module: the engine (run durations) and the accumulators (Extend's processing time) both
hold these, and the collector renders them with `DURATION_BUCKETS`. The run durations also keep an
example run per bucket (example_runs.py).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any

from .example_runs import Example

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

# The `le` label value of each bucket, as the exposition writes it.
BUCKET_LABELS: tuple[str, ...] = tuple("+Inf" if b == math.inf else repr(b) for b in DURATION_BUCKETS)

# A histogram's value as a snapshot holds it: (per-bucket counts, sum, count).
HistogramValue = tuple[tuple[int, ...], float, int]


@dataclass(slots=True)
class Histogram:
    buckets: list[int]  # per bucket of DURATION_BUCKETS, not cumulative
    total: float = 0.0
    count: int = 0
    # Per bucket, the run whose value fell there and that finished last; None: a histogram without
    # examples (Extend's processing time), or no run in that bucket yet.
    examples: list[Example | None] | None = None

    @classmethod
    def empty(cls, *, examples: bool = False) -> Histogram:
        n = len(DURATION_BUCKETS)
        return cls([0] * n, examples=[None] * n if examples else None)

    @classmethod
    def restore(cls, buckets: Any, total: Any, count: Any, *, examples: bool = False) -> Histogram:
        """From the state file's [buckets, total, count]; ValueError when the buckets differ."""
        if len(buckets) != len(DURATION_BUCKETS):
            raise ValueError("histogram buckets differ from this version's")
        restored: list[Example | None] | None = [None] * len(DURATION_BUCKETS) if examples else None
        return cls([int(b) for b in buckets], float(total), int(count), restored)

    def observe(self, value: float, run_id: str | None = None, finished_at: float = 0.0) -> None:
        """Count `value`; with `run_id`, the run becomes its bucket's example unless that one finished
        later (example_runs.py)."""
        i = bisect_left(DURATION_BUCKETS, value)  # the first bucket with value <= bound
        if i < len(DURATION_BUCKETS) and value <= DURATION_BUCKETS[i]:  # (NaN fits none)
            self.buckets[i] += 1
            examples = self.examples
            if examples is not None and run_id is not None:
                current = examples[i]
                if current is None or finished_at >= current[2]:
                    examples[i] = (run_id, value, finished_at)
        self.total += value
        self.count += 1

    def value(self) -> HistogramValue:
        return tuple(self.buckets), self.total, self.count

    def examples_by_bucket(self) -> dict[str, Example]:
        """`le` label value -> the example of that bucket, for the buckets that have one."""
        examples = self.examples or ()
        return {le: ex for le, ex in zip(BUCKET_LABELS, examples, strict=False) if ex is not None}

    def restore_example(self, le: str, example: Example) -> None:
        """Put back a bucket's example read from the state file; ValueError for an unknown bucket."""
        if self.examples is not None:
            self.examples[BUCKET_LABELS.index(le)] = example
