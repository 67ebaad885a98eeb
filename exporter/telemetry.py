"""The exporter's own metrics: API requests, retries, sync health, build info.

These are ordinary prometheus_client metrics with fixed label sets; the run counters come from
`collector.py`, which renders the engine's snapshots.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from . import __version__

HELP_SUFFIX = " Values come from periodic syncs with the Extend API."

SYNC_ERROR_REASONS = (
    "unauthorized",
    "forbidden",
    "payment_required",
    "rate_limited",
    "server_error",
    "transport_error",
    "bad_response",
    "client_error",
)
RETRY_REASONS = ("rate_limited", "server_error", "transport_error", "bad_response")

# `*_created` series double the series count and no dashboard here uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Telemetry:
    def __init__(
        self,
        registry: CollectorRegistry,
        kinds: tuple[str, ...],
        api_version: str,
        endpoints: tuple[str, ...] = (),
    ) -> None:
        self.api_requests = Counter(
            "extend_api_requests",
            "Requests sent to the Extend API, by endpoint path and HTTP status ('error': no response).",
            ["endpoint", "code"],
            registry=registry,
        )
        self.api_request_duration = Histogram(
            "extend_api_request_duration_seconds",
            "Duration of Extend API requests, by endpoint path.",
            ["endpoint"],
            buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=registry,
        )
        self.api_retries = Counter(
            "extend_api_retries",
            "Extend API requests retried, by endpoint path and reason.",
            ["endpoint", "reason"],
            registry=registry,
        )
        self.up = Gauge(
            "extend_up",
            "1 when the last sync of this run kind succeeded, 0 when it failed." + HELP_SUFFIX,
            ["kind"],
            registry=registry,
        )
        self.last_success = Gauge(
            "extend_last_successful_sync_timestamp_seconds",
            "Unix time of the last successful sync of this run kind.",
            ["kind"],
            registry=registry,
        )
        self.sync_duration = Histogram(
            "extend_sync_duration_seconds",
            "Duration of one sync of a run kind (all its listings).",
            ["kind"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
            registry=registry,
        )
        self.syncs = Counter(
            "extend_syncs",
            "Syncs of a run kind, by result (success or failure).",
            ["kind", "result"],
            registry=registry,
        )
        self.sync_errors = Counter(
            "extend_sync_errors",
            "Failed syncs, by run kind and reason.",
            ["kind", "reason"],
            registry=registry,
        )
        self.build_info = Gauge(
            "extend_exporter_build_info",
            "Build information of the exporter; always 1.",
            ["version", "api_version"],
            registry=registry,
        )
        self.build_info.labels(__version__, api_version).set(1)
        self.budget_rate = Gauge(
            "extend_exporter_request_budget_requests_per_second",
            "Configured request budget shared by every sync (EXTEND_EXPORTER_MAX_REQUESTS_PER_SECOND).",
            registry=registry,
        )
        self.budget_wait = Counter(
            "extend_exporter_request_budget_wait_seconds",
            "Time requests waited for the request budget; a rate near the number of kinds syncing at "
            "once means the budget, not the API, paces the syncs.",
            registry=registry,
        )
        self.sync_interval = Gauge(
            "extend_sync_interval_seconds",
            "Seconds between the starts of the last two syncs of this run kind (0 before the second); "
            "above extend_sync_configured_interval_seconds when syncs fall behind.",
            ["kind"],
            registry=registry,
        )
        self.sync_configured_interval = Gauge(
            "extend_sync_configured_interval_seconds",
            "Configured seconds between syncs of each run kind (EXTEND_EXPORTER_POLL_INTERVAL_SECONDS).",
            registry=registry,
        )
        for kind in kinds:
            self.up.labels(kind).set(0)
            self.last_success.labels(kind).set(0)
            self.sync_duration.labels(kind)
            self.sync_interval.labels(kind).set(0)
            for result in ("success", "failure"):
                self.syncs.labels(kind, result)
            for reason in SYNC_ERROR_REASONS:
                self.sync_errors.labels(kind, reason)
        for endpoint in endpoints:
            self.api_request_duration.labels(endpoint)
            for reason in RETRY_REASONS:
                self.api_retries.labels(endpoint, reason)

    def label_names(self) -> dict[str, tuple[str, ...]]:
        """Metric name -> label names, for documentation."""
        out: dict[str, tuple[str, ...]] = {}
        for metric in vars(self).values():
            if isinstance(metric, Counter | Gauge | Histogram):
                out[metric._name] = tuple(metric._labelnames)
        return out
