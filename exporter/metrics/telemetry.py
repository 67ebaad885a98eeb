"""The exporter's own metrics: API requests, retries, sync health, build info.

These are ordinary prometheus_client metrics with fixed label sets, built from their registry entries
(families.py), which hold their names, help and labels; the run counters come from `collector.py`,
which renders the engine's snapshots.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from .. import __version__
from . import families as fam
from .family import Family, Type
from .labels import (
    HTTP_REJECT_REASONS,
    RETRY_REASONS,
    SYNC_ERROR_REASONS,
    SYNC_TRIGGERS,
    UNKNOWN,
    WEBHOOK_REFUSALS,
    WEBHOOK_REJECT_REASONS,
)

API_REQUEST_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SYNC_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

# `*_created` series double the series count and no dashboard here uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]


def _checked(family: Family, type_: Type) -> Family:
    if family.type is not type_:
        raise TypeError(f"{family.name} is a {family.type}, not a {type_}")
    return family


def _counter(family: Family, registry: CollectorRegistry) -> Counter:
    family = _checked(family, Type.COUNTER)
    return Counter(family.name, family.help, family.label_names, registry=registry)


def _gauge(family: Family, registry: CollectorRegistry) -> Gauge:
    family = _checked(family, Type.GAUGE)
    return Gauge(family.name, family.help, family.label_names, registry=registry)


def _histogram(family: Family, registry: CollectorRegistry, buckets: tuple[float, ...]) -> Histogram:
    family = _checked(family, Type.HISTOGRAM)
    return Histogram(family.name, family.help, family.label_names, buckets=buckets, registry=registry)


class Telemetry:
    def __init__(
        self,
        registry: CollectorRegistry,
        kinds: tuple[str, ...],
        api_version: str,
        endpoints: tuple[str, ...] = (),
        workspace: str = "",
        *,
        webhooks: bool = False,
    ) -> None:
        self.api_requests = _counter(fam.API_REQUESTS, registry)
        self.api_request_duration = _histogram(fam.API_REQUEST_DURATION, registry, API_REQUEST_BUCKETS)
        self.api_retries = _counter(fam.API_RETRIES, registry)
        self.up = _gauge(fam.UP, registry)
        self.last_success = _gauge(fam.LAST_SUCCESS, registry)
        self.sync_duration = _histogram(fam.SYNC_DURATION, registry, SYNC_DURATION_BUCKETS)
        self.syncs = _counter(fam.SYNCS, registry)
        self.sync_errors = _counter(fam.SYNC_ERRORS, registry)
        self.api_requests_in_flight = _gauge(fam.API_REQUESTS_IN_FLIGHT, registry)
        self.api_oldest_request_age = _gauge(fam.API_OLDEST_REQUEST_AGE, registry)
        self.build_info = _gauge(fam.BUILD_INFO, registry)
        self._api_version = api_version
        self._workspace = workspace
        self.build_info.labels(__version__, api_version, workspace).set(1)
        self.http_connections_rejected = _counter(fam.HTTP_CONNECTIONS_REJECTED, registry)
        for reason in HTTP_REJECT_REASONS:
            self.http_connections_rejected.labels(reason)
        self.budget_rate = _gauge(fam.REQUEST_BUDGET, registry)
        self.budget_wait = _counter(fam.REQUEST_BUDGET_WAIT, registry)
        self.sync_interval = _gauge(fam.SYNC_INTERVAL, registry)
        self.sync_configured_interval = _gauge(fam.SYNC_CONFIGURED_INTERVAL, registry)
        self.sync_triggers = _counter(fam.SYNC_TRIGGERS, registry)
        self.invalid_summaries = _counter(fam.INVALID_SUMMARIES, registry)
        self.sync_running = _gauge(fam.SYNC_RUNNING, registry)
        self.state_write_failures = _counter(fam.STATE_WRITE_FAILURES, registry)
        self.webhooks = WebhookTelemetry(registry) if webhooks else None
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
            self.api_request_duration.labels(endpoint)
            for reason in RETRY_REASONS:
                self.api_retries.labels(endpoint, reason)

    def set_workspace(self, workspace: str) -> None:
        """Relabel the build info when the workspace identity changes (a rotated key file)."""
        if workspace == self._workspace:
            return
        self.build_info.remove(__version__, self._api_version, self._workspace)
        self._workspace = workspace
        self.build_info.labels(__version__, self._api_version, workspace).set(1)


class WebhookTelemetry:
    """The webhook listener's metrics (with EXTEND_EXPORTER_WEBHOOK_LISTEN_ADDRESS set)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = _counter(fam.WEBHOOK_EVENTS, registry)
        for outcome in WEBHOOK_REFUSALS:
            self.events.labels(UNKNOWN, outcome)
        self.last_accepted = _gauge(fam.WEBHOOK_LAST_ACCEPTED, registry)
        self.connections_rejected = _counter(fam.WEBHOOK_CONNECTIONS_REJECTED, registry)
        for reason in WEBHOOK_REJECT_REASONS:
            self.connections_rejected.labels(reason)

    def count(self, event_type: str, outcome: str) -> None:
        self.events.labels(event_type, outcome).inc()
