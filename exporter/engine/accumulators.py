"""What a finished run adds to, besides the core counters: one small accumulator per metric family.

The engine's ledger decides *when* a run enters a terminal status (once per run and status, exact
across cursor shifts, faults and restarts) and calls `on_finish` of every accumulator of the kind.
Each accumulator fills one family of the registry (families.py) and owns its label values (after
`kind`), the label sets that start at 0, its section of the state file and the rows the collector
renders. Adding a family means one registry entry, one class here and one line in `for_kind`. Where
the family carries exemplars (`Family.exemplars`), `on_finish` says which series it counted the run
under, and the kind's state keeps that series' example run (example_runs.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from ..kinds import RISK_LEVELS, KindSpec
from ..metrics import families
from ..metrics.family import Family
from ..metrics.labels import MAX_EXTRA_VALUES, OTHER, UNSPECIFIED
from .histogram import Histogram
from .observation import Observation

# Rows of one family for one kind: (label values after `kind`, value). A histogram's value is
# (per-bucket counts, sum, count), with the buckets of `DURATION_BUCKETS`.
Rows = tuple[tuple[tuple[str, ...], Any], ...]

MAX_VALUE_LEN = 48  # longer undocumented values count under OTHER
# Started at 0 for every kind that reports failure reasons, even where the kind does not document
# it (verify), so the out-of-credits alert sees the very first one.
OUT_OF_CREDITS = "OUT_OF_CREDITS"

FAILED = "FAILED"
PROCESSED = "PROCESSED"


class Accumulator(Protocol):
    family: Family
    section: str  # its key in the kind's state-file object

    def on_finish(self, obs: Observation, status: str) -> tuple[str, ...] | None:
        """Count the run; the label values (after `kind`) it counted it under where the family
        carries exemplars, else None."""

    def rows(self) -> Rows: ...

    def to_dict(self) -> Any: ...

    def load_dict(self, data: Any) -> None:
        """Restore from `to_dict` output; raises (KeyError, TypeError, ValueError) when malformed."""


def _enum_label(value: str | None, known: Iterable[str], extra: set[str], counts: dict[str, Any]) -> str:
    """The label value of an enum that grows: known values and up to MAX_EXTRA_VALUES others."""
    if value is None or value == "":
        return UNSPECIFIED
    if value in counts or value in known:
        return value
    clean = value.replace("_", "").replace("-", "").isalnum() and len(value) <= MAX_VALUE_LEN
    if clean and value not in (OTHER, UNSPECIFIED) and len(extra) < MAX_EXTRA_VALUES:
        extra.add(value)
        return value
    return OTHER


class _EnumCounter:
    """Counts per value of one enum label, the documented values starting at 0."""

    family: Family
    section: str

    def __init__(self, known: tuple[str, ...]) -> None:
        self.known = known
        self.counts: dict[str, int] = dict.fromkeys(known, 0)
        self.extra: set[str] = set()

    def add(self, value: str | None) -> str:
        """Count `value`; returns the label value it counted under."""
        label = _enum_label(value, self.known, self.extra, self.counts)
        self.counts[label] = self.counts.get(label, 0) + 1
        return label

    def rows(self) -> Rows:
        return tuple(((k,), v) for k, v in sorted(self.counts.items()))

    def to_dict(self) -> Any:
        return [[k, v] for k, v in self.counts.items()]

    def load_dict(self, data: Any) -> None:
        counts = dict.fromkeys(self.known, 0)
        for label, value in data:
            counts[str(label)] = int(value)
        self.counts = counts
        self.extra = {k for k in counts if k not in self.known and k not in (OTHER, UNSPECIFIED)}


class FailedByReason(_EnumCounter):
    family = families.RUNS_FAILED
    section = "failed_by_reason"

    def __init__(self, documented: tuple[str, ...]) -> None:
        super().__init__(tuple(dict.fromkeys((*documented, OUT_OF_CREDITS))))

    def on_finish(self, obs: Observation, status: str) -> tuple[str, ...] | None:
        return (self.add(obs.failure_reason),) if status == FAILED else None


class ProcessedByRisk(_EnumCounter):
    family = families.RUNS_PROCESSED_BY_RISK
    section = "processed_by_risk_level"

    def __init__(self) -> None:
        super().__init__(RISK_LEVELS)

    def on_finish(self, obs: Observation, status: str) -> None:
        if status == PROCESSED:
            self.add(obs.risk_level)


class Pages:
    family = families.RUN_PAGES
    section = "pages"

    def __init__(self) -> None:
        self.total = 0.0

    def on_finish(self, obs: Observation, status: str) -> None:
        if status == PROCESSED and obs.pages is not None:
            self.total += obs.pages

    def rows(self) -> Rows:
        return (((), self.total),)

    def to_dict(self) -> Any:
        return self.total

    def load_dict(self, data: Any) -> None:
        self.total = float(data)


class ProcessingTime:
    family = families.RUN_PROCESSING
    section = "processing_seconds"

    def __init__(self) -> None:
        self.hist = Histogram.empty()

    def on_finish(self, obs: Observation, status: str) -> None:
        if status == PROCESSED and obs.processing_seconds is not None:
            self.hist.observe(obs.processing_seconds)

    def rows(self) -> Rows:
        return (((), self.hist.value()),)

    def to_dict(self) -> Any:
        return [self.hist.buckets, self.hist.total, self.hist.count]

    def load_dict(self, data: Any) -> None:
        buckets, total, count = data
        self.hist = Histogram.restore(buckets, total, count)


class CreditsByTag:
    family = families.RUN_CREDITS_BY_TAG
    section = "credits_by_tag"

    def __init__(self, allow: frozenset[str]) -> None:
        self.allow = allow
        self.credits: dict[str, float] = dict.fromkeys(sorted(allow), 0.0)

    def on_finish(self, obs: Observation, status: str) -> None:
        if status != PROCESSED or obs.credits is None or not obs.usage_tags:
            return
        for tag in set(obs.usage_tags) & self.allow:
            self.credits[tag] += obs.credits

    def rows(self) -> Rows:
        return tuple(((k,), v) for k, v in sorted(self.credits.items()))

    def to_dict(self) -> Any:
        return [[k, v] for k, v in self.credits.items()]

    def load_dict(self, data: Any) -> None:
        credits = dict.fromkeys(sorted(self.allow), 0.0)
        for tag, value in data:
            if str(tag) in self.allow:  # a tag dropped from the allow-list since is dropped here too
                credits[str(tag)] = float(value)
        self.credits = credits


def for_kind(spec: KindSpec, usage_tags: frozenset[str] = frozenset()) -> tuple[Accumulator, ...]:
    """The accumulators of one kind: only the families its summaries carry the fields of."""
    out: list[Accumulator] = []
    if spec.failure_reasons is not None:
        out.append(FailedByReason(spec.failure_reasons))
    if spec.has_risk_level:
        out.append(ProcessedByRisk())
    if spec.has_metrics:
        out.append(Pages())
        out.append(ProcessingTime())
    if spec.has_metadata and usage_tags:
        out.append(CreditsByTag(usage_tags))
    return tuple(out)
