"""Metric families built from the engine's per-kind snapshots, and the cached exposition.

Families are built fresh from the latest immutable snapshots (no long-lived Gauge objects whose label
sets go stale). prometheus_client formats them, but only for the kind whose snapshot changed: each
kind's sample lines are cached, and the exposition splices them under the families' HELP/TYPE lines.
A sync of one kind so costs the formatting of its own series, not of every kind's (at 10k series the
full render held the GIL for ~50 ms per sync, and scrapes queued behind it). The text is assembled
once per completed sync and served as cached bytes, so a scrape never waits for the API or for the
counting state.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from ..engine.kind_state import DURATION_BUCKETS, KindSnapshot
from ..kinds import KINDS
from . import families as fam
from .families import Family, FilledBy, Type

# The families rendered here, in registry order; the rest of the registry is the exporter's own metrics.
RUN_FAMILIES = tuple(f for f in fam.FAMILIES if f.filled_by in (FilledBy.LEDGER, FilledBy.ACCUMULATOR))
# Oldest-active ages move with the clock, not with a kind's counts: rendered at every assembly, so they
# keep growing while a kind's syncs fail. The other families come from the per-kind cache.
AGE_FAMILY = fam.RUNS_OLDEST_ACTIVE_AGE.name


def _bucket_label(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


class _Families(Collector):
    """A fixed list of families, in the shape generate_latest() renders."""

    def __init__(self, metrics: Sequence[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics


def _render(metrics: Sequence[Metric]) -> bytes:
    return generate_latest(_Families(metrics))


class RunsCollector(Collector):
    """The run families of every kind: `render()` for the exposition, `collect()` for a registry.

    Both give the same text (a test holds them to it); `render()` reuses each kind's cached lines.
    """

    def __init__(
        self,
        per_resource: bool = False,
        clock: Callable[[], float] = time.time,
        *,
        usage_tags: bool = False,
    ) -> None:
        self._snapshots: dict[str, KindSnapshot] = {}
        self._lines: dict[str, dict[str, bytes]] = {}  # kind -> family -> its rendered sample lines
        self._clock = clock
        self._lock = threading.Lock()
        opted_in = {"per_resource_labels": per_resource, "usage_tags": usage_tags}
        self._names = [f.name for f in RUN_FAMILIES if f.opt_in is None or opted_in[f.opt_in]]
        empty = {**_KindFamilies().by_name(), AGE_FAMILY: _gauge(fam.RUNS_OLDEST_ACTIVE_AGE)}
        self._headers = {name: _render([empty[name]]) for name in self._names}

    def update(self, snapshot: KindSnapshot) -> None:
        families = _KindFamilies()
        families.add(snapshot)
        lines = {}
        for name, family in families.by_name().items():
            if name not in self._headers:
                continue  # opt-in families, when off
            text, header = _render([family]), self._headers[name]
            if not text.startswith(header):  # generate_latest() always writes HELP and TYPE first
                raise AssertionError(f"unexpected exposition of {name}")
            lines[name] = text[len(header) :]
        with self._lock:
            self._snapshots[snapshot.kind] = snapshot
            self._lines[snapshot.kind] = lines

    def snapshots(self) -> list[KindSnapshot]:
        with self._lock:
            return [self._snapshots[k] for k in sorted(self._snapshots)]

    def render(self) -> bytes:
        """The exposition text of every run family, from the cached lines of each kind."""
        with self._lock:
            kinds = sorted(self._lines)
            lines = [self._lines[k] for k in kinds]
            snaps = [self._snapshots[k] for k in kinds]
        out: list[bytes] = []
        for name in self._names:
            if name == AGE_FAMILY:
                out.append(_render([_ages(snaps, self._clock())]))
                continue
            out.append(self._headers[name])
            out.extend(kind_lines[name] for kind_lines in lines)
        return b"".join(out)

    def describe(self) -> Iterable[Metric]:
        return []  # families depend on the data; skip registry-time collision checks

    def collect(self) -> Iterable[Metric]:
        snaps = self.snapshots()
        families = _KindFamilies()
        for snap in snaps:
            families.add(snap)
        by_name = {**families.by_name(), AGE_FAMILY: _ages(snaps, self._clock())}
        return [by_name[name] for name in self._names]


def _gauge(family: Family) -> GaugeMetricFamily:
    return GaugeMetricFamily(family.name, family.help, labels=list(family.label_names))


def _counter(family: Family) -> CounterMetricFamily:
    return CounterMetricFamily(family.name, family.help, labels=list(family.label_names))


def _histogram(family: Family) -> HistogramMetricFamily:
    return HistogramMetricFamily(family.name, family.help, labels=list(family.label_names))


@dataclass
class _KindFamilies:
    """The families whose samples come from one kind's counts (every family but the ages)."""

    active: GaugeMetricFamily = field(default_factory=lambda: _gauge(fam.RUNS_ACTIVE))
    finished: CounterMetricFamily = field(default_factory=lambda: _counter(fam.RUNS_FINISHED))
    created: CounterMetricFamily = field(default_factory=lambda: _counter(fam.RUNS_CREATED))
    credits: CounterMetricFamily = field(default_factory=lambda: _counter(fam.RUN_CREDITS))
    duration: HistogramMetricFamily = field(default_factory=lambda: _histogram(fam.RUN_DURATION))
    tracked: GaugeMetricFamily = field(default_factory=lambda: _gauge(fam.TRACKED_RUNS))
    by_resource: CounterMetricFamily = field(default_factory=lambda: _counter(fam.RUNS_FINISHED_BY_RESOURCE))
    info: GaugeMetricFamily = field(default_factory=lambda: _gauge(fam.RESOURCE_INFO))
    # The accumulators' families (failure reasons, pages, ...), by name.
    fed: dict[str, CounterMetricFamily | HistogramMetricFamily] = field(
        default_factory=lambda: {
            f.name: _histogram(f) if f.type is Type.HISTOGRAM else _counter(f)
            for f in RUN_FAMILIES
            if f.filled_by is FilledBy.ACCUMULATOR
        }
    )

    def by_name(self) -> dict[str, Metric]:
        return {
            m.name: m
            for m in (
                self.active,
                self.finished,
                self.created,
                self.credits,
                self.duration,
                self.tracked,
                self.by_resource,
                self.info,
                *self.fed.values(),
            )
        }

    def add(self, snap: KindSnapshot) -> None:
        kind = snap.kind
        for (status, source, ptype), value in sorted(snap.active.items()):
            self.active.add_metric([kind, status, source, ptype], value)
        for (status, source, ptype), value in sorted(snap.finished.items()):
            self.finished.add_metric([kind, status, source, ptype], value)
        for (source, ptype), value in sorted(snap.created.items()):
            self.created.add_metric([kind, source, ptype], value)
        for (source, ptype), amount in sorted(snap.credits.items()):
            self.credits.add_metric([kind, source, ptype], amount)
        for (status, ptype), (buckets, total, _count) in sorted(snap.durations.items()):
            cumulative = 0
            points: list[tuple[str, float]] = []
            for bound, n in zip(DURATION_BUCKETS, buckets, strict=True):
                cumulative += n
                points.append((_bucket_label(bound), cumulative))
            self.duration.add_metric([kind, status, ptype], points, total)
        self.tracked.add_metric([kind], snap.tracked)
        for (status, rid), value in sorted(snap.finished_by_resource.items()):
            self.by_resource.add_metric([kind, status, rid], value)
        for rid, name in sorted(snap.resource_names.items()):
            self.info.add_metric([kind, rid, name], 1)
        for name, rows in snap.families.items():
            family = self.fed[name]
            for labels, value in rows:
                if isinstance(family, HistogramMetricFamily):
                    buckets, total, _count = value
                    family.add_metric([kind, *labels], cumulative_buckets(buckets), total)
                else:
                    family.add_metric([kind, *labels], value)


def cumulative_buckets(buckets: Iterable[int]) -> list[tuple[str, float]]:
    """Per-bucket counts of DURATION_BUCKETS as the cumulative (le, count) points a histogram renders."""
    cumulative = 0
    points: list[tuple[str, float]] = []
    for bound, n in zip(DURATION_BUCKETS, buckets, strict=True):
        cumulative += n
        points.append((_bucket_label(bound), cumulative))
    return points


def _ages(snaps: Iterable[KindSnapshot], now: float) -> GaugeMetricFamily:
    ages = _gauge(fam.RUNS_OLDEST_ACTIVE_AGE)
    for snap in snaps:
        statuses = KINDS[snap.kind].active_statuses if snap.kind in KINDS else ()
        for status in sorted({*statuses, *snap.oldest_active_created}):
            first = snap.oldest_active_created.get(status)
            age = max(0.0, now - first) if first is not None else 0.0
            ages.add_metric([snap.kind, status], age)
    return ages


@dataclass(frozen=True)
class Rendered:
    text: bytes
    gzipped: bytes


class Exposition:
    """The last rendered /metrics body, swapped atomically after each sync.

    The registry's metrics (the exporter's own telemetry, a few hundred lines) are rendered at every
    refresh; the run families come from `runs`, which caches each kind's lines; `after` (the batch
    families) is rendered last, so /metrics keeps the registry's declaration order.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        runs: RunsCollector | None = None,
        after: CollectorRegistry | None = None,
    ) -> None:
        self._registry = registry
        self._runs = runs
        self._after = after
        self._lock = threading.Lock()
        self._current = Rendered(b"", gzip.compress(b""))

    def refresh(self) -> Rendered:
        with self._lock:
            text = generate_latest(self._registry)
            if self._runs is not None:
                text += self._runs.render()
            if self._after is not None:
                text += generate_latest(self._after)
            self._current = Rendered(text, gzip.compress(text, compresslevel=5))
            return self._current

    @property
    def current(self) -> Rendered:
        return self._current
