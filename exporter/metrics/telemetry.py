"""The exporter's own metrics: API requests, retries, sync health, build info, the request budget.

Ordinary prometheus_client metrics with fixed label sets, built from their registry entries
(families.py), which hold their names, help and labels. A family declared per workspace gets one metric
per workspace (`WorkspaceTelemetry`), recorded without the `workspace` label; `Telemetry` renders every
workspace's samples under its label, read at each exposition, so a workspace key's fingerprint follows
a rotated key file. The webhook listener's families (`WebhookTelemetry`) are the process's: a delivery
does not say which workspace it came from. Registered in no registry: `Telemetry.render()` writes them
for the exposition, in both formats. The run counters come from `collector.py`, which renders the
engine's snapshots.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from .. import __version__
from . import families as fam
from . import text
from .families import FAMILIES
from .family import Family, FilledBy, Type
from .labels import (
    HTTP_REJECT_REASONS,
    RETRY_REASONS,
    SYNC_ERROR_REASONS,
    SYNC_TRIGGERS,
    UNKNOWN,
    WEBHOOK_REFUSALS,
    WEBHOOK_REJECT_REASONS,
    WORKSPACE,
)

API_REQUEST_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SYNC_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_BUCKETS = {fam.API_REQUEST_DURATION: API_REQUEST_BUCKETS, fam.SYNC_DURATION: SYNC_DURATION_BUCKETS}
SELF_FAMILIES = tuple(f for f in FAMILIES if f.filled_by is FilledBy.SELF)

# `*_created` series double the series count and no dashboard here uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]


def _instrument(family: Family, registry: CollectorRegistry | None) -> Any:
    """The prometheus_client metric of `family`, with its own labels (a workspace's: no `workspace`)."""
    labels = family.own_label_names
    if family.type is Type.COUNTER:
        return Counter(family.name, family.help, labels, registry=registry)
    if family.type is Type.GAUGE:
        return Gauge(family.name, family.help, labels, registry=registry)
    return Histogram(family.name, family.help, labels, buckets=_BUCKETS[family], registry=registry)


class WorkspaceTelemetry:
    """One workspace's share of the exporter's own metrics: its syncs, its API requests, its build info."""

    def __init__(
        self,
        kinds: Iterable[str],
        api_version: str,
        endpoints: Iterable[str] = (),
        *,
        webhooks: bool = False,
    ) -> None:
        # Registered nowhere: `Telemetry` renders them, each under the workspace's label.
        self.metrics: dict[Family, Any] = {f: _instrument(f, None) for f in SELF_FAMILIES if f.per_workspace}
        self.api_requests: Counter = self.metrics[fam.API_REQUESTS]
        self.api_retries: Counter = self.metrics[fam.API_RETRIES]
        self.up: Gauge = self.metrics[fam.UP]
        self.last_success: Gauge = self.metrics[fam.LAST_SUCCESS]
        self.sync_duration: Histogram = self.metrics[fam.SYNC_DURATION]
        self.syncs: Counter = self.metrics[fam.SYNCS]
        self.sync_errors: Counter = self.metrics[fam.SYNC_ERRORS]
        self.sync_interval: Gauge = self.metrics[fam.SYNC_INTERVAL]
        self.invalid_summaries: Counter = self.metrics[fam.INVALID_SUMMARIES]
        self.sync_triggers: Counter = self.metrics[fam.SYNC_TRIGGERS]
        self.sync_running: Gauge = self.metrics[fam.SYNC_RUNNING]
        self.metrics[fam.BUILD_INFO].labels(__version__, api_version).set(1)
        for kind in kinds:
            self.last_success.labels(kind).set(0)
            self.sync_duration.labels(kind)
            self.sync_interval.labels(kind).set(0)
            self.sync_running.labels(kind).set(0)
            self.invalid_summaries.labels(kind)
            for trigger in SYNC_TRIGGERS if webhooks else SYNC_TRIGGERS[:1]:
                self.sync_triggers.labels(kind, trigger)
            for result in ("success", "failure"):
                self.syncs.labels(kind, result)
            for reason in SYNC_ERROR_REASONS:
                self.sync_errors.labels(kind, reason)
        for endpoint in endpoints:
            for reason in RETRY_REASONS:
                self.api_retries.labels(endpoint, reason)


class Telemetry:
    """The process-wide metrics, and every workspace's under its `workspace` label, in registry order.

    `render()` writes them as /metrics shows them. A workspace's lines are formatted again only when
    its metrics may have changed: `changed()` after each of its syncs, or while one of its syncs runs
    (request counters move); otherwise its cached lines are spliced in, so an exporter of many
    workspaces formats per sync what that workspace changed, not every workspace's thousands of lines.
    """

    def __init__(self, endpoints: Iterable[str] = (), *, webhooks: bool = False) -> None:
        self._lock = threading.Lock()
        self._workspaces: dict[str, _WorkspaceLines] = {}
        self._shared: dict[Family, Any] = {}
        self._headers: dict[Family, bytes] = {}
        self._om_headers: dict[Family, bytes] = {}  # OpenMetrics names a counter without `_total`
        opted_in = {"webhook_listen_address": webhooks}
        self._families = [f for f in SELF_FAMILIES if f.opt_in is None or opted_in[f.opt_in]]
        # The webhook listener's metrics are the process's: a delivery names no workspace.
        self.webhooks = WebhookTelemetry() if webhooks else None
        webhook_metrics = self.webhooks.metrics if self.webhooks is not None else {}
        for family in self._families:
            if family.per_workspace:
                empty = Metric(family.name, family.help, family.type.value)
                self._headers[family] = text.header(empty)
                self._om_headers[family] = text.header(empty, openmetrics=True)
            elif family in webhook_metrics:
                self._shared[family] = webhook_metrics[family]
            else:
                self._shared[family] = _instrument(family, None)
        shared = self._shared
        self.api_request_duration: Histogram = shared[fam.API_REQUEST_DURATION]
        self.api_requests_in_flight: Gauge = shared[fam.API_REQUESTS_IN_FLIGHT]
        self.api_oldest_request_age: Gauge = shared[fam.API_OLDEST_REQUEST_AGE]
        self.http_connections_rejected: Counter = shared[fam.HTTP_CONNECTIONS_REJECTED]
        self.budget_rate: Gauge = shared[fam.REQUEST_BUDGET]
        self.budget_wait: Counter = shared[fam.REQUEST_BUDGET_WAIT]
        self.sync_configured_interval: Gauge = shared[fam.SYNC_CONFIGURED_INTERVAL]
        self.state_write_failures: Counter = shared[fam.STATE_WRITE_FAILURES]
        for reason in HTTP_REJECT_REASONS:
            self.http_connections_rejected.labels(reason)
        for endpoint in endpoints:
            self.api_request_duration.labels(endpoint)

    def add_workspace(
        self,
        key: str,
        label: Callable[[], str],
        telemetry: WorkspaceTelemetry,
        busy: Callable[[], bool] = lambda: False,
    ) -> None:
        """Expose `telemetry` under the `workspace` label `label()` gives at each exposition; `busy()`
        says whether one of the workspace's syncs runs (its lines are then formatted at every one)."""
        with self._lock:
            self._workspaces[key] = _WorkspaceLines(label, telemetry, busy, self._headers)

    def changed(self, key: str) -> None:
        """A workspace's metrics changed (a sync of it ended): format its lines at the next render."""
        self._workspaces[key].stale = True

    def render(self) -> tuple[bytes, bytes]:
        """The exposition of every family of the exporter's own, in declaration order: (classic text,
        OpenMetrics without `# EOF`). A workspace's sample lines are the same bytes in both formats
        (none carries an exemplar), so they are formatted once and spliced under either header."""
        with self._lock:
            entries = list(self._workspaces.values())
        lines = [entry.lines() for entry in entries]
        out: list[bytes] = []
        om_out: list[bytes] = []
        for family in self._families:
            if family.per_workspace:
                samples = b"".join(ws[family] for ws in lines)
                out += (self._headers[family], samples)
                om_out += (self._om_headers[family], samples)
            else:
                collected = list(self._shared[family].collect())
                out.append(text.render(collected))
                om_out.append(text.render(collected, openmetrics=True))
        return b"".join(out), b"".join(om_out)


class _WorkspaceLines:
    """One workspace's sample lines per family, with its label; formatted again when stale or busy."""

    def __init__(
        self,
        label: Callable[[], str],
        telemetry: WorkspaceTelemetry,
        busy: Callable[[], bool],
        headers: dict[Family, bytes],
    ) -> None:
        self._label = label
        self._telemetry = telemetry
        self._busy = busy
        self._headers = headers
        self._lines: dict[Family, bytes] = {}
        self._rendered_as = ""
        self.stale = True

    def lines(self) -> dict[Family, bytes]:
        label = self._label()
        if self.stale or self._busy() or label != self._rendered_as:
            self.stale = False  # before reading the metrics: a change meanwhile marks it stale again
            self._lines = {family: self._render(family, label) for family in self._headers}
            self._rendered_as = label
        return self._lines

    def _render(self, family: Family, label: str) -> bytes:
        merged = Metric(family.name, family.help, family.type.value)
        for metric in self._telemetry.metrics[family].collect():
            merged.samples.extend(_labelled(sample, label) for sample in metric.samples)
        return text.sample_lines(merged, self._headers[family])


def _labelled(sample: Sample, workspace: str) -> Sample:
    """`sample` with the workspace label after its own labels (before a histogram's `le`)."""
    labels = {k: v for k, v in sample.labels.items() if k != "le"}
    labels[WORKSPACE.name] = workspace
    if "le" in sample.labels:
        labels["le"] = sample.labels["le"]
    return sample._replace(labels=labels)


class WebhookTelemetry:
    """The webhook listener's metrics (with EXTEND_EXPORTER_WEBHOOK_LISTEN_ADDRESS set)."""

    FAMILIES = (fam.WEBHOOK_EVENTS, fam.WEBHOOK_LAST_ACCEPTED, fam.WEBHOOK_CONNECTIONS_REJECTED)

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # Registered nowhere by the exporter (`Telemetry` renders them); a test may give a registry.
        self.metrics: dict[Family, Any] = {f: _instrument(f, registry) for f in self.FAMILIES}
        self.events: Counter = self.metrics[fam.WEBHOOK_EVENTS]
        for outcome in WEBHOOK_REFUSALS:
            self.events.labels(UNKNOWN, outcome)
        self.last_accepted: Gauge = self.metrics[fam.WEBHOOK_LAST_ACCEPTED]
        self.connections_rejected: Counter = self.metrics[fam.WEBHOOK_CONNECTIONS_REJECTED]
        for reason in WEBHOOK_REJECT_REASONS:
            self.connections_rejected.labels(reason)

    def count(self, event_type: str, outcome: str) -> None:
        self.events.labels(event_type, outcome).inc()
