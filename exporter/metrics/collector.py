"""Metric families built from the engine's per-kind snapshots, and the cached exposition.

Families are built fresh from the latest immutable snapshots (no long-lived Gauge objects whose label
sets go stale). prometheus_client formats them, but only for the (workspace, kind) whose snapshot
changed: each one's sample lines are cached, and the exposition splices them under the families'
HELP/TYPE lines. A sync of one kind so costs the formatting of its own series, not of every kind's (at
10k series the full render held the GIL for ~50 ms per sync, and scrapes queued behind it). The text
is assembled once per completed sync and served as cached bytes, so a scrape never waits for the API
or for the counting state. Every run family is declared per workspace: each workspace's series carry
its `workspace` label, appended after the family's own labels.

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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar

from ..engine.example_runs import Example
from ..engine.kind_state import KindSnapshot
from ..kinds import KINDS
from . import families as fam
from .empty import counter, cumulative_buckets, gauge, histogram
from .exemplars import exemplar
from .family import Family, FilledBy, Type
from .telemetry import Telemetry
from .text import EOF_LINE, Families, header, openmetrics_of, render, sample_lines

# After a sync, /metrics is assembled again once the last assembly's cost is this share of the time since
# it began (an exporter of one workspace: a few ms, so at once; of fifty: within about a second).
REFRESH_SHARE = 0.05
MAX_REFRESH_GAP_SECONDS = 2.0
# The families rendered here, in registry order; the rest of the registry is the exporter's own metrics.
RUN_FAMILIES = tuple(f for f in fam.FAMILIES if f.filled_by in (FilledBy.LEDGER, FilledBy.ACCUMULATOR))
# Oldest-active ages move with the clock, not with a kind's counts: rendered at every assembly, so they
# keep growing while a kind's syncs fail. The other families come from the per-kind cache.
AGE_FAMILY = fam.RUNS_OLDEST_ACTIVE_AGE.name
# The families whose OpenMetrics lines differ from the classic ones: their samples carry exemplars.
EXEMPLAR_FAMILIES = frozenset(f.name for f in RUN_FAMILIES if f.exemplars)
EOF = EOF_LINE

_Key = tuple[str, str]  # (workspace section, kind)


class RunsCollector(Collector):
    """The run families of every (workspace, kind): `render()` and `render_openmetrics()` for the
    exposition, `collect()` for a registry. Both give the same text (a test holds them to it); the
    renders reuse each (workspace, kind)'s cached lines.

    Workspaces are keyed by their state-file section, which never changes; their `workspace` label
    may (a workspace key's fingerprint follows a rotated key file: `relabel`).
    """

    def __init__(
        self,
        per_resource: bool = False,
        clock: Callable[[], float] = time.time,
        *,
        usage_tags: bool = False,
    ) -> None:
        self._snapshots: dict[_Key, KindSnapshot] = {}
        self._lines: dict[_Key, dict[str, bytes]] = {}  # (section, kind) -> family -> its sample lines
        self._om_lines: dict[_Key, dict[str, bytes]] = {}  # the same in OpenMetrics, EXEMPLAR_FAMILIES only
        self._labels: dict[str, str] = {}  # section -> its workspace label
        self._clock = clock
        self._lock = threading.Lock()
        opted_in = {"per_resource_labels": per_resource, "usage_tags": usage_tags}
        self._names = [f.name for f in RUN_FAMILIES if f.opt_in is None or opted_in[f.opt_in]]
        empty = {**_KindFamilies().by_name(), AGE_FAMILY: gauge(fam.RUNS_OLDEST_ACTIVE_AGE)}
        self._headers = {name: header(empty[name]) for name in self._names}
        self._om_headers = {name: header(empty[name], openmetrics=True) for name in self._names}

    def update(self, section: str, label: str, snapshot: KindSnapshot) -> None:
        """A workspace's new snapshot of a kind, labelled `label`."""
        lines, om_lines = self._lines_of(label, snapshot)
        with self._lock:
            self._labels[section] = label
            self._snapshots[(section, snapshot.kind)] = snapshot
            self._lines[(section, snapshot.kind)] = lines
            self._om_lines[(section, snapshot.kind)] = om_lines

    def relabel(self, section: str, label: str) -> None:
        """Render a workspace's kinds again when its label changed (a rotated key file)."""
        with self._lock:
            if self._labels.get(section, label) == label:
                return
            snaps = [snap for (sec, _), snap in self._snapshots.items() if sec == section]
        for snap in snaps:
            self.update(section, label, snap)

    def _lines_of(self, label: str, snapshot: KindSnapshot) -> tuple[dict[str, bytes], dict[str, bytes]]:
        """Classic sample lines of every family, OpenMetrics ones of the families with exemplars."""
        families = _KindFamilies()
        families.add(snapshot, label)
        lines, om_lines = {}, {}
        for name, family in families.by_name().items():
            if name not in self._headers:
                continue  # opt-in families, when off
            lines[name] = sample_lines(family, self._headers[name])
            if name in EXEMPLAR_FAMILIES:
                om_lines[name] = sample_lines(family, self._om_headers[name], openmetrics=True)
        return lines, om_lines

    def snapshots(self) -> list[tuple[str, KindSnapshot]]:
        """(workspace label, snapshot) of every (workspace, kind), by label and kind."""
        with self._lock:
            found = [(self._labels[sec], kind, snap) for (sec, kind), snap in self._snapshots.items()]
        return [(label, snap) for label, _, snap in sorted(found, key=lambda x: x[:2])]

    def render(self) -> bytes:
        """The classic text of every run family, from the cached lines of each (workspace, kind)."""
        return self._splice(openmetrics=False)

    def render_openmetrics(self) -> bytes:
        """The OpenMetrics text of every run family (without `# EOF`), from the cached lines."""
        return self._splice(openmetrics=True)

    def _splice(self, *, openmetrics: bool) -> bytes:
        with self._lock:
            keys = sorted(self._lines, key=lambda key: (self._labels[key[0]], key[1]))
            lines = [self._lines[k] for k in keys]
            om_lines = [self._om_lines[k] for k in keys]
            snaps = [(self._labels[k[0]], self._snapshots[k]) for k in keys]
        headers = self._om_headers if openmetrics else self._headers
        out: list[bytes] = []
        for name in self._names:
            if name == AGE_FAMILY:
                out.append(render([_ages(snaps, self._clock())], openmetrics=openmetrics))
                continue
            out.append(headers[name])
            by_key = om_lines if openmetrics and name in EXEMPLAR_FAMILIES else lines
            out.extend(key_lines[name] for key_lines in by_key)
        return b"".join(out)

    def describe(self) -> Iterable[Metric]:
        return []  # families depend on the data; skip registry-time collision checks

    def collect(self) -> Iterable[Metric]:
        snaps = self.snapshots()
        families = _KindFamilies()
        for label, snap in snaps:
            families.add(snap, label)
        by_name = {**families.by_name(), AGE_FAMILY: _ages(snaps, self._clock())}
        return [by_name[name] for name in self._names]


@dataclass
class _KindFamilies:
    """The families whose samples come from one kind's counts (every family but the ages)."""

    active: GaugeMetricFamily = field(default_factory=lambda: gauge(fam.RUNS_ACTIVE))
    finished: CounterMetricFamily = field(default_factory=lambda: counter(fam.RUNS_FINISHED))
    created: CounterMetricFamily = field(default_factory=lambda: counter(fam.RUNS_CREATED))
    credits: CounterMetricFamily = field(default_factory=lambda: counter(fam.RUN_CREDITS))
    duration: HistogramMetricFamily = field(default_factory=lambda: histogram(fam.RUN_DURATION))
    tracked: GaugeMetricFamily = field(default_factory=lambda: gauge(fam.TRACKED_RUNS))
    by_resource: CounterMetricFamily = field(default_factory=lambda: counter(fam.RUNS_FINISHED_BY_RESOURCE))
    info: GaugeMetricFamily = field(default_factory=lambda: gauge(fam.RESOURCE_INFO))
    # The accumulators' families (failure reasons, pages, ...), by name.
    fed: dict[str, CounterMetricFamily | HistogramMetricFamily] = field(
        default_factory=lambda: {
            f.name: histogram(f) if f.type is Type.HISTOGRAM else counter(f)
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

    def add(self, snap: KindSnapshot, workspace: str) -> None:
        """One workspace's snapshot of a kind: its samples, with `workspace` after their own labels."""
        kind, ws = snap.kind, workspace
        examples = _Exemplars(snap)
        for (status, source, ptype), value in sorted(snap.active.items()):
            self.active.add_metric([kind, status, source, ptype, ws], value)
        failed = examples.of(fam.RUNS_FINISHED)
        for key, value in sorted(snap.finished.items()):
            self.finished.add_metric([kind, *key, ws], value, exemplar=failed.get(key))
        for (source, ptype), value in sorted(snap.created.items()):
            self.created.add_metric([kind, source, ptype, ws], value)
        for (source, ptype), amount in sorted(snap.credits.items()):
            self.credits.add_metric([kind, source, ptype, ws], amount)
        durations = examples.of(fam.RUN_DURATION)
        for (status, ptype), (buckets, total, _count) in sorted(snap.durations.items()):
            points = cumulative_buckets(buckets, durations, (status, ptype))
            self.duration.add_metric([kind, status, ptype, ws], points, total)
        self.tracked.add_metric([kind, ws], snap.tracked)
        for (status, rid), value in sorted(snap.finished_by_resource.items()):
            self.by_resource.add_metric([kind, status, rid, ws], value)
        for rid, name in sorted(snap.resource_names.items()):
            self.info.add_metric([kind, rid, name, ws], 1)
        for name, rows in snap.families.items():
            family = self.fed[name]
            fed = examples.of(fam.BY_NAME[name])
            for labels, value in rows:
                if isinstance(family, HistogramMetricFamily):
                    buckets, total, _count = value
                    family.add_metric([kind, *labels, ws], cumulative_buckets(buckets), total)
                else:
                    family.add_metric([kind, *labels, ws], value, exemplar=fed.get(labels))


class _Exemplars:
    """A snapshot's example runs as exemplars, per family."""

    def __init__(self, snap: KindSnapshot) -> None:
        self._examples = snap.examples

    def of(self, family: Family) -> dict[tuple[str, ...], Exemplar]:
        """Label values after `kind` (with `le` last for buckets) -> exemplar."""
        rows: Mapping[tuple[str, ...], Example] = self._examples.get(family.name, {})
        out = {}
        for labels, example in rows.items():
            made = exemplar(example)
            if made is not None:
                out[labels] = made
        return out


def _ages(snaps: Iterable[tuple[str, KindSnapshot]], now: float) -> GaugeMetricFamily:
    ages = gauge(fam.RUNS_OLDEST_ACTIVE_AGE)
    for workspace, snap in snaps:
        statuses = KINDS[snap.kind].active_statuses if snap.kind in KINDS else ()
        for status in sorted({*statuses, *snap.oldest_active_created}):
            first = snap.oldest_active_created.get(status)
            age = max(0.0, now - first) if first is not None else 0.0
            ages.add_metric([snap.kind, status, workspace], age)
    return ages


@dataclass(frozen=True)
class Rendered:
    """One /metrics body in both formats, each as it is sent: plain and gzipped."""

    text: bytes  # the classic text format
    gzipped: bytes
    openmetrics: bytes = EOF_LINE
    openmetrics_gzipped: bytes = gzip.compress(EOF_LINE)


def _gzip(text: bytes) -> bytes:
    return gzip.compress(text, compresslevel=5)


class Exposition:
    """The last rendered /metrics body, in both formats, swapped atomically after each refresh.

    The exporter's own families (`telemetry`: process-wide lines and each workspace's cached ones),
    then the registry's (process_*), then the run families (`runs`, cached per workspace and kind),
    then `after`'s (the batch families, few: collected at every refresh), so /metrics keeps the
    declaration order.
    After a sync, `due()` says when a refresh is worth its cost again: syncs ending close together
    (many workspaces) share one refresh instead of each re-assembling and compressing megabytes.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        runs: RunsCollector | None = None,
        telemetry: Telemetry | None = None,
        after: CollectorRegistry | None = None,
    ) -> None:
        self._registry = registry
        self._runs = runs
        self._telemetry = telemetry
        self._after = after
        self._lock = threading.Lock()
        self._current = Rendered(b"", gzip.compress(b""))
        self._last_start = -float("inf")  # time.monotonic() when the last refresh began
        self._last_cost = 0.0  # and how long it took

    def refresh(self) -> Rendered:
        with self._lock:
            started = time.monotonic()
            text, openmetrics = self._telemetry.render() if self._telemetry is not None else (b"", b"")
            own = Families(list(self._registry.collect()))  # collected once, written in both formats
            text += generate_latest(own)
            openmetrics += openmetrics_of(own)
            if self._runs is not None:
                text += self._runs.render()
                openmetrics += self._runs.render_openmetrics()
            if self._after is not None:
                text += generate_latest(self._after)
                openmetrics += openmetrics_of(self._after)
            openmetrics += EOF_LINE
            self._current = Rendered(text, _gzip(text), openmetrics, _gzip(openmetrics))
            self._last_start, self._last_cost = started, time.monotonic() - started
            return self._current

    def due(self) -> float:
        """time.monotonic() from which another refresh keeps refreshing under REFRESH_SHARE of a core."""
        return self._last_start + min(self._last_cost / REFRESH_SHARE, MAX_REFRESH_GAP_SECONDS)

    def assembled_since(self) -> float:
        """time.monotonic() when the current exposition began to be assembled (-inf: never)."""
        return self._last_start

    @property
    def current(self) -> Rendered:
        return self._current
