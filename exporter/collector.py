"""Metric families built from the engine's per-kind snapshots, and the cached exposition.

A custom Collector yields fresh families from the latest immutable snapshots (no long-lived Gauge
objects whose label sets go stale). The text is rendered once per completed sync and served as
cached bytes, so a scrape never waits for the API or for the counting state.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from .engine import DURATION_BUCKETS, KindSnapshot
from .kinds import KINDS
from .telemetry import HELP_SUFFIX


def _bucket_label(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


class RunsCollector(Collector):
    def __init__(self, per_resource: bool = False, clock: Callable[[], float] = time.time) -> None:
        self._snapshots: dict[str, KindSnapshot] = {}
        self._per_resource = per_resource
        self._clock = clock
        self._lock = threading.Lock()

    def update(self, snapshot: KindSnapshot) -> None:
        with self._lock:
            self._snapshots[snapshot.kind] = snapshot

    def snapshots(self) -> list[KindSnapshot]:
        with self._lock:
            return [self._snapshots[k] for k in sorted(self._snapshots)]

    def describe(self) -> Iterable[Metric]:
        return []  # families depend on the data; skip registry-time collision checks

    def collect(self) -> Iterable[Metric]:
        snaps = self.snapshots()
        now = self._clock()
        active = GaugeMetricFamily(
            "extend_runs_active",
            "Runs now in a non-terminal status (PENDING, PROCESSING, NEEDS_REVIEW, CANCELLING)."
            + HELP_SUFFIX,
            labels=["kind", "status", "source", "processor_type"],
        )
        finished = CounterMetricFamily(
            "extend_runs_finished",
            "Runs observed entering a terminal status since counting began; once per run and status."
            + HELP_SUFFIX,
            labels=["kind", "status", "source", "processor_type"],
        )
        created = CounterMetricFamily(
            "extend_runs_created",
            "Runs created since counting began." + HELP_SUFFIX,
            labels=["kind", "source", "processor_type"],
        )
        credits = CounterMetricFamily(
            "extend_run_credits",
            "Credits of finished runs, where the API reports usage." + HELP_SUFFIX,
            labels=["kind", "source", "processor_type"],
        )
        duration = HistogramMetricFamily(
            "extend_run_duration_seconds",
            "Time from creation (workflow runs: start) to finish of finished runs." + HELP_SUFFIX,
            labels=["kind", "status", "processor_type"],
        )
        oldest = GaugeMetricFamily(
            "extend_runs_oldest_active_age_seconds",
            "Age of the oldest run in each active status; 0 when there is none." + HELP_SUFFIX,
            labels=["kind", "status"],
        )
        tracked = GaugeMetricFamily(
            "extend_exporter_tracked_runs",
            "Runs the exporter keeps in memory for a kind (active runs and the overlap window).",
            labels=["kind"],
        )
        for snap in snaps:
            kind = snap.kind
            for (status, source, ptype), value in sorted(snap.active.items()):
                active.add_metric([kind, status, source, ptype], value)
            for (status, source, ptype), value in sorted(snap.finished.items()):
                finished.add_metric([kind, status, source, ptype], value)
            for (source, ptype), value in sorted(snap.created.items()):
                created.add_metric([kind, source, ptype], value)
            for (source, ptype), amount in sorted(snap.credits.items()):
                credits.add_metric([kind, source, ptype], amount)
            for (status, ptype), (buckets, total, _count) in sorted(snap.durations.items()):
                cumulative = 0
                points: list[tuple[str, float]] = []
                for bound, n in zip(DURATION_BUCKETS, buckets, strict=True):
                    cumulative += n
                    points.append((_bucket_label(bound), cumulative))
                duration.add_metric([kind, status, ptype], points, total)
            statuses = KINDS[kind].active_statuses if kind in KINDS else ()
            for status in sorted({*statuses, *snap.oldest_active_created}):
                first = snap.oldest_active_created.get(status)
                oldest.add_metric([kind, status], max(0.0, now - first) if first is not None else 0.0)
            tracked.add_metric([kind], snap.tracked)
        yield from (active, finished, created, credits, duration, oldest, tracked)
        if self._per_resource:
            yield from self._resource_families(snaps)

    def _resource_families(self, snaps: list[KindSnapshot]) -> Iterable[Metric]:
        by_resource = CounterMetricFamily(
            "extend_runs_finished_by_resource",
            "Finished runs per processor or workflow ID (opt-in, capped; overflow under 'other')."
            + HELP_SUFFIX,
            labels=["kind", "status", "resource_id"],
        )
        info = GaugeMetricFamily(
            "extend_resource_info",
            "Maps a processor or workflow ID to its name; always 1.",
            labels=["kind", "resource_id", "resource_name"],
        )
        for snap in snaps:
            for (status, rid), value in sorted(snap.finished_by_resource.items()):
                by_resource.add_metric([snap.kind, status, rid], value)
            for rid, name in sorted(snap.resource_names.items()):
                info.add_metric([snap.kind, rid, name], 1)
        yield by_resource
        yield info


@dataclass(frozen=True)
class Rendered:
    text: bytes
    gzipped: bytes


class Exposition:
    """The last rendered /metrics body, swapped atomically after each sync."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry
        self._lock = threading.Lock()
        self._current = Rendered(b"", gzip.compress(b""))

    def refresh(self) -> Rendered:
        with self._lock:
            text = generate_latest(self._registry)
            self._current = Rendered(text, gzip.compress(text, compresslevel=5))
            return self._current

    @property
    def current(self) -> Rendered:
        return self._current
