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
        active, oldest, tracked, info = (
            _gauge("extend_runs_active"),
            _gauge("extend_runs_oldest_active_age_seconds"),
            _gauge("extend_exporter_tracked_runs"),
            _gauge("extend_resource_info"),
        )
        finished, created, credits, by_resource = (
            _counter("extend_runs_finished"),
            _counter("extend_runs_created"),
            _counter("extend_run_credits"),
            _counter("extend_runs_finished_by_resource"),
        )
        duration = HistogramMetricFamily(
            "extend_run_duration_seconds",
            FAMILIES["extend_run_duration_seconds"][1],
            labels=list(FAMILIES["extend_run_duration_seconds"][2]),
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
            for (status, rid), value in sorted(snap.finished_by_resource.items()):
                by_resource.add_metric([kind, status, rid], value)
            for rid, name in sorted(snap.resource_names.items()):
                info.add_metric([kind, rid, name], 1)
        yield from (active, finished, created, credits, duration, oldest, tracked)
        if self._per_resource:
            yield from (by_resource, info)


# name -> (type, help, labels): the families RunsCollector renders (also read by docs.py).
FAMILIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "extend_runs_active": (
        "gauge",
        "Runs now in a non-terminal status (PENDING, PROCESSING, NEEDS_REVIEW, CANCELLING)." + HELP_SUFFIX,
        ("kind", "status", "source", "processor_type"),
    ),
    "extend_runs_finished": (
        "counter",
        "Runs observed entering a terminal status since counting began; once per run and status."
        + HELP_SUFFIX,
        ("kind", "status", "source", "processor_type"),
    ),
    "extend_runs_created": (
        "counter",
        "Runs created since counting began." + HELP_SUFFIX,
        ("kind", "source", "processor_type"),
    ),
    "extend_run_credits": (
        "counter",
        "Credits of finished runs, where the API reports usage." + HELP_SUFFIX,
        ("kind", "source", "processor_type"),
    ),
    "extend_run_duration_seconds": (
        "histogram",
        "Time from creation (workflow runs: start) to finish of finished runs." + HELP_SUFFIX,
        ("kind", "status", "processor_type"),
    ),
    "extend_runs_oldest_active_age_seconds": (
        "gauge",
        "Age of the oldest run in each active status; 0 when there is none." + HELP_SUFFIX,
        ("kind", "status"),
    ),
    "extend_exporter_tracked_runs": (
        "gauge",
        "Runs the exporter keeps in memory for a kind (active runs and the overlap window).",
        ("kind",),
    ),
    "extend_runs_finished_by_resource": (
        "counter",
        "Finished runs per processor or workflow ID (opt-in, capped; overflow under 'other')." + HELP_SUFFIX,
        ("kind", "status", "resource_id"),
    ),
    "extend_resource_info": (
        "gauge",
        "Maps a processor or workflow ID to its name; always 1 (opt-in).",
        ("kind", "resource_id", "resource_name"),
    ),
}


def _gauge(name: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, FAMILIES[name][1], labels=list(FAMILIES[name][2]))


def _counter(name: str) -> CounterMetricFamily:
    return CounterMetricFamily(name, FAMILIES[name][1], labels=list(FAMILIES[name][2]))


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
