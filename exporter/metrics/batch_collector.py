"""The batch and evaluation families, built from each workspace's batch book and evaluations.

A prometheus_client Collector in the exporter's registry: the exposition collects it at every refresh
(after each sync and every 5 s), fresh from the books' snapshots, so a batch that leaves tracking
leaves /metrics with it. Its series are few (at most EXTEND_EXPORTER_MAX_BATCHES batches and 20
evaluation runs per workspace): rendering them each time costs little.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from ..batches.book import BatchRow, BatchSnapshot
from ..batches.evaluations import EVALUATION_STATUSES, Evaluation
from . import batch_families as fam
from .empty import counter, cumulative_buckets, gauge, histogram

# Each workspace's `workspace` label value, batch book snapshot and evaluation set runs.
BatchSources = Callable[[], Iterable[tuple[str, BatchSnapshot, list[Evaluation]]]]


@dataclass
class _Families:
    active: GaugeMetricFamily = field(default_factory=lambda: gauge(fam.BATCHES_ACTIVE))
    finished: CounterMetricFamily = field(default_factory=lambda: counter(fam.BATCHES_FINISHED))
    duration: HistogramMetricFamily = field(default_factory=lambda: histogram(fam.BATCH_DURATION))
    left_out: CounterMetricFamily = field(default_factory=lambda: counter(fam.BATCHES_LEFT_OUT))
    runs: GaugeMetricFamily = field(default_factory=lambda: gauge(fam.BATCH_RUNS))
    info: GaugeMetricFamily = field(default_factory=lambda: gauge(fam.BATCH_INFO))
    run_count: GaugeMetricFamily = field(default_factory=lambda: gauge(fam.BATCH_SIZE))
    created: GaugeMetricFamily = field(default_factory=lambda: gauge(fam.BATCH_CREATED))
    progress: GaugeMetricFamily = field(default_factory=lambda: gauge(fam.BATCH_PROGRESS))
    files: GaugeMetricFamily = field(default_factory=lambda: gauge(fam.BATCH_FILES))
    pages: GaugeMetricFamily = field(default_factory=lambda: gauge(fam.BATCH_PAGES))
    e_status: GaugeMetricFamily = field(default_factory=lambda: gauge(fam.EVALUATION_STATUS))
    e_info: GaugeMetricFamily = field(default_factory=lambda: gauge(fam.EVALUATION_INFO))
    e_score: GaugeMetricFamily = field(default_factory=lambda: gauge(fam.EVALUATION_SCORE))
    e_files: GaugeMetricFamily = field(default_factory=lambda: gauge(fam.EVALUATION_FILES))
    e_pages: GaugeMetricFamily = field(default_factory=lambda: gauge(fam.EVALUATION_PAGES))
    e_latency: GaugeMetricFamily = field(default_factory=lambda: gauge(fam.EVALUATION_LATENCY))

    def all(self) -> list[Metric]:
        return list(self.__dict__.values())

    def add(self, snap: BatchSnapshot, ws: str) -> None:
        """One workspace's batches, `ws` (its label) after each sample's own labels."""
        for (kind, status), n in sorted(snap.active.items()):
            self.active.add_metric([kind, status, ws], n)
        for (kind, status), n in sorted(snap.finished.items()):
            self.finished.add_metric([kind, status, ws], n)
        for (kind, status), (buckets, total, _count) in sorted(snap.durations.items()):
            self.duration.add_metric([kind, status, ws], cumulative_buckets(buckets), total)
        for kind, n in sorted(snap.left_out.items()):
            self.left_out.add_metric([kind, ws], n)
        for row in snap.batches:
            self._row(row, ws)

    def _row(self, row: BatchRow, ws: str) -> None:
        ids = [row.kind, row.id]
        for status, n in sorted(row.runs.items()):
            self.runs.add_metric([*ids, status, ws], n)
        self.info.add_metric([*ids, row.status, row.source, ws], 1)
        for family, value in (
            (self.run_count, None if row.run_count is None else float(row.run_count)),
            (self.created, row.created_at),
            (self.progress, row.progress_at if row.progress_at is not None else row.created_at),
            (self.files, row.files),
            (self.pages, row.pages),
        ):
            if value is not None:
                family.add_metric([*ids, ws], value)

    def add_evaluation(self, e: Evaluation, ws: str) -> None:
        for status in dict.fromkeys((*EVALUATION_STATUSES, e.status or "")):
            self.e_status.add_metric([e.id, status, ws], 1 if status == e.status else 0)
        self.e_info.add_metric(
            [e.id, e.evaluation_set_id, e.entity_type, e.entity_id, e.entity_version, ws], 1
        )
        for (metric, name), value in sorted(e.scores.items()):
            self.e_score.add_metric([e.id, metric, name, ws], value)
        for state, n in sorted(e.files.items()):
            self.e_files.add_metric([e.id, state, ws], n)
        if e.pages is not None:
            self.e_pages.add_metric([e.id, ws], e.pages)
        for quantile, seconds in sorted(e.latency.items()):
            self.e_latency.add_metric([e.id, quantile, ws], seconds)


class BatchCollector(Collector):
    """The batch and evaluation families of every workspace `sources` yields."""

    def __init__(self, sources: BatchSources) -> None:
        self._sources = sources

    def describe(self) -> Iterable[Metric]:
        return []  # families depend on the data; skip registry-time collision checks

    def collect(self) -> Iterable[Metric]:
        families = _Families()
        for ws, snap, evaluations in self._sources():
            families.add(snap, ws)
            for evaluation in evaluations:
                families.add_evaluation(evaluation, ws)
        return families.all()
