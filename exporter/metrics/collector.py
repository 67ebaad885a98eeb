"""Metric families built from the engine's per-kind snapshots, and the cached exposition.

Families are built fresh from the latest immutable snapshots (no long-lived Gauge objects whose label
sets go stale). prometheus_client formats them, but only for the kind whose snapshot changed: each
kind's sample lines are cached, and the exposition splices them under the families' HELP/TYPE lines.
A sync of one kind so costs the formatting of its own series, not of every kind's (at 10k series the
full render held the GIL for ~50 ms per sync, and scrapes queued behind it). The text is assembled
once per completed sync and served as cached bytes, so a scrape never waits for the API or for the
counting state.

The same text is kept in two formats: Prometheus' classic text format, and OpenMetrics 1.0 for the
scrapers that ask for it (docs/exemplars.md). OpenMetrics adds an exemplar naming an example run to
the samples of the families that carry them (families.py); the other families' sample lines are the
same bytes in both formats, so only those few families are formatted twice. `_created` samples are
left out of both, like the exporter's own metrics (telemetry.py): counting starts at 0 for every
label set the exporter knows, so nothing needs a creation time to see the first increase.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.openmetrics.exposition import ALLOWUTF8
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar

from ..engine.example_runs import Example
from ..engine.histogram import BUCKET_LABELS
from ..engine.kind_state import KindSnapshot
from ..kinds import KINDS
from . import families as fam
from .exemplars import exemplar
from .family import Family, FilledBy, Type

# The families rendered here, in registry order; the rest of the registry is the exporter's own metrics.
RUN_FAMILIES = tuple(f for f in fam.FAMILIES if f.filled_by in (FilledBy.LEDGER, FilledBy.ACCUMULATOR))
# Oldest-active ages move with the clock, not with a kind's counts: rendered at every assembly, so they
# keep growing while a kind's syncs fail. The other families come from the per-kind cache.
AGE_FAMILY = fam.RUNS_OLDEST_ACTIVE_AGE.name
# The families whose OpenMetrics lines differ from the classic ones: their samples carry exemplars.
EXEMPLAR_FAMILIES = frozenset(f.name for f in RUN_FAMILIES if f.exemplars)
EOF = b"# EOF\n"  # OpenMetrics' last line


class _Families(Collector):
    """A fixed list of families, in the shape generate_latest() renders."""

    def __init__(self, metrics: Sequence[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics


def _render(metrics: Sequence[Metric]) -> bytes:
    return generate_latest(_Families(metrics))


def _render_openmetrics(metrics: Sequence[Metric]) -> bytes:
    return _openmetrics_of(_Families(metrics))


def _openmetrics_of(collector: Collector) -> bytes:
    """OpenMetrics text of what `collector` collects, without the `# EOF` that ends an exposition.

    Every name here is a valid classic name, which both escaping schemes write unchanged: the UTF-8
    one gets there with a string replace, the default one with a Python call per character of every
    sample name, which doubled the cost of a refresh (a test holds the bytes to the default's).
    """
    text: bytes = generate_openmetrics(collector, escaping=ALLOWUTF8)  # type: ignore[no-untyped-call]
    if not text.endswith(EOF):
        raise AssertionError("OpenMetrics exposition without # EOF")
    return text[: -len(EOF)]


def _without_header(text: bytes, header: bytes, name: str) -> bytes:
    if not text.startswith(header):  # both formats always write HELP and TYPE first
        raise AssertionError(f"unexpected exposition of {name}")
    return text[len(header) :]


class RunsCollector(Collector):
    """The run families of every kind: `render()` and `render_openmetrics()` for the exposition,
    `collect()` for a registry.

    Both give the same text (a test holds them to it); the renders reuse each kind's cached lines.
    """

    def __init__(
        self,
        per_resource: bool = False,
        clock: Callable[[], float] = time.time,
        *,
        usage_tags: bool = False,
    ) -> None:
        self._snapshots: dict[str, KindSnapshot] = {}
        self._workspaces: dict[str, str | None] = {}  # kind -> the workspace label of its exemplars
        self._lines: dict[str, dict[str, bytes]] = {}  # kind -> family -> its rendered sample lines
        self._om_lines: dict[str, dict[str, bytes]] = {}  # the same in OpenMetrics, EXEMPLAR_FAMILIES only
        self._clock = clock
        self._lock = threading.Lock()
        opted_in = {"per_resource_labels": per_resource, "usage_tags": usage_tags}
        self._names = [f.name for f in RUN_FAMILIES if f.opt_in is None or opted_in[f.opt_in]]
        empty = {**_KindFamilies().by_name(), AGE_FAMILY: _gauge(fam.RUNS_OLDEST_ACTIVE_AGE)}
        self._headers = {name: _render([empty[name]]) for name in self._names}
        self._om_headers = {name: _render_openmetrics([empty[name]]) for name in self._names}

    def update(self, snapshot: KindSnapshot, *, workspace: str | None = None) -> None:
        """Take the kind's new snapshot; `workspace` labels its exemplars (given when the exporter
        polls several workspaces)."""
        families = _KindFamilies()
        families.add(snapshot, workspace)
        lines, om_lines = {}, {}
        for name, family in families.by_name().items():
            if name not in self._headers:
                continue  # opt-in families, when off
            lines[name] = _without_header(_render([family]), self._headers[name], name)
            if name in EXEMPLAR_FAMILIES:
                text = _render_openmetrics([family])
                om_lines[name] = _without_header(text, self._om_headers[name], name)
        with self._lock:
            self._snapshots[snapshot.kind] = snapshot
            self._workspaces[snapshot.kind] = workspace
            self._lines[snapshot.kind] = lines
            self._om_lines[snapshot.kind] = om_lines

    def render(self) -> bytes:
        """The classic exposition text of every run family, from the cached lines of each kind."""
        return self._splice(openmetrics=False)

    def render_openmetrics(self) -> bytes:
        """The OpenMetrics text of every run family (without `# EOF`), from the cached lines."""
        return self._splice(openmetrics=True)

    def _splice(self, *, openmetrics: bool) -> bytes:
        with self._lock:
            kinds = sorted(self._lines)
            lines = [self._lines[k] for k in kinds]
            om_lines = [self._om_lines[k] for k in kinds]
            snaps = [self._snapshots[k] for k in kinds]
        headers = self._om_headers if openmetrics else self._headers
        out: list[bytes] = []
        for name in self._names:
            if name == AGE_FAMILY:
                ages = [_ages(snaps, self._clock())]
                out.append(_render_openmetrics(ages) if openmetrics else _render(ages))
                continue
            out.append(headers[name])
            by_kind = om_lines if openmetrics and name in EXEMPLAR_FAMILIES else lines
            out.extend(kind_lines[name] for kind_lines in by_kind)
        return b"".join(out)

    def describe(self) -> Iterable[Metric]:
        return []  # families depend on the data; skip registry-time collision checks

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            snaps = [(self._snapshots[k], self._workspaces[k]) for k in sorted(self._snapshots)]
        families = _KindFamilies()
        for snap, workspace in snaps:
            families.add(snap, workspace)
        by_name = {**families.by_name(), AGE_FAMILY: _ages([s for s, _ in snaps], self._clock())}
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

    def add(self, snap: KindSnapshot, workspace: str | None = None) -> None:
        kind = snap.kind
        examples = _Exemplars(snap, workspace)
        for (status, source, ptype), value in sorted(snap.active.items()):
            self.active.add_metric([kind, status, source, ptype], value)
        failed = examples.of(fam.RUNS_FINISHED)
        for key, value in sorted(snap.finished.items()):
            self.finished.add_metric([kind, *key], value, exemplar=failed.get(key))
        for (source, ptype), value in sorted(snap.created.items()):
            self.created.add_metric([kind, source, ptype], value)
        for (source, ptype), amount in sorted(snap.credits.items()):
            self.credits.add_metric([kind, source, ptype], amount)
        durations = examples.of(fam.RUN_DURATION)
        for (status, ptype), (buckets, total, _count) in sorted(snap.durations.items()):
            points = cumulative_buckets(buckets, durations, (status, ptype))
            self.duration.add_metric([kind, status, ptype], points, total)
        self.tracked.add_metric([kind], snap.tracked)
        for (status, rid), value in sorted(snap.finished_by_resource.items()):
            self.by_resource.add_metric([kind, status, rid], value)
        for rid, name in sorted(snap.resource_names.items()):
            self.info.add_metric([kind, rid, name], 1)
        for name, rows in snap.families.items():
            family = self.fed[name]
            fed = examples.of(fam.BY_NAME[name])
            for labels, value in rows:
                if isinstance(family, HistogramMetricFamily):
                    buckets, total, _count = value
                    family.add_metric([kind, *labels], cumulative_buckets(buckets), total)
                else:
                    family.add_metric([kind, *labels], value, exemplar=fed.get(labels))


class _Exemplars:
    """A snapshot's example runs as exemplars, per family."""

    def __init__(self, snap: KindSnapshot, workspace: str | None) -> None:
        self._examples = snap.examples
        self._workspace = workspace

    def of(self, family: Family) -> dict[tuple[str, ...], Exemplar]:
        """Label values after `kind` (with `le` last for buckets) -> exemplar."""
        rows: Mapping[tuple[str, ...], Example] = self._examples.get(family.name, {})
        out = {}
        for labels, example in rows.items():
            made = exemplar(example, self._workspace)
            if made is not None:
                out[labels] = made
        return out


Point = tuple[str, float] | tuple[str, float, Exemplar]


def cumulative_buckets(
    buckets: Iterable[int],
    exemplars: Mapping[tuple[str, ...], Exemplar] | None = None,
    series: tuple[str, ...] = (),
) -> list[Point]:
    """Cumulative bucket counts of DURATION_BUCKETS by `le`, the points a histogram renders, each with the
    exemplar of (*series, le) where there is one."""
    cumulative = 0
    points: list[Point] = []
    for le, n in zip(BUCKET_LABELS, buckets, strict=True):
        cumulative += n
        found = exemplars.get((*series, le)) if exemplars else None
        points.append((le, cumulative) if found is None else (le, cumulative, found))
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
    """One /metrics body in both formats, each as it is sent: plain and gzipped."""

    text: bytes  # the classic text format
    gzipped: bytes
    openmetrics: bytes = EOF
    openmetrics_gzipped: bytes = gzip.compress(EOF)


def _gzip(text: bytes) -> bytes:
    return gzip.compress(text, compresslevel=5)


class Exposition:
    """The last rendered /metrics body, in both formats, swapped atomically after each sync.

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
            own = _Families(list(self._registry.collect()))  # collected once, written in both formats
            text = generate_latest(own)
            openmetrics = _openmetrics_of(own)
            if self._runs is not None:
                text += self._runs.render()
                openmetrics += self._runs.render_openmetrics()
            if self._after is not None:
                text += generate_latest(self._after)
                openmetrics += _openmetrics_of(self._after)
            openmetrics += EOF
            self._current = Rendered(text, _gzip(text), openmetrics, _gzip(openmetrics))
            return self._current

    @property
    def current(self) -> Rendered:
        return self._current
