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
    "timeout",
)
# exporter.server.REJECT_REASONS (kept here so telemetry imports nothing of the server).
HTTP_REJECT_REASONS = (
    "header_timeout",
    "tls_handshake_timeout",
    "headers_too_large",
    "connection_limit",
    "overloaded",
    "accept_failed",
)
RETRY_REASONS = ("rate_limited", "server_error", "transport_error", "bad_response", "timeout")

# `*_created` series double the series count and no dashboard here uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Telemetry:
    def __init__(
        self,
        registry: CollectorRegistry,
        kinds: tuple[str, ...],
        api_version: str,
        endpoints: tuple[str, ...] = (),
        workspace: str = "",
    ) -> None:
        self.api_requests = Counter(
            "extend_api_requests",
            "Requests sent to the Extend API, by endpoint path and HTTP status ('error': no response, "
            "'timeout': no complete answer within the request timeout).",
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
            "1 when the last sync of this run kind succeeded, 0 when it failed; absent until its first sync "
            "ends (start-up is not an outage)." + HELP_SUFFIX,
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
        self.api_requests_in_flight = Gauge(
            "extend_api_requests_in_flight",
            "Extend API requests sent and not yet answered in full.",
            registry=registry,
        )
        self.api_oldest_request_age = Gauge(
            "extend_api_oldest_request_age_seconds",
            "Age of the oldest Extend API request in flight (0 when none): a hang shows as growth.",
            registry=registry,
        )
        self.build_info = Gauge(
            "extend_exporter_build_info",
            "Build information of the exporter and the workspace it polls (the workspace ID, or key-<12 hex> "
            "fingerprinting the API key); always 1.",
            ["version", "api_version", "workspace"],
            registry=registry,
        )
        self._api_version = api_version
        self._workspace = workspace
        self.build_info.labels(__version__, api_version, workspace).set(1)
        self.http_connections_rejected = Counter(
            "extend_exporter_http_connections_rejected",
            "HTTP connections the exporter's server refused or closed, by reason (header_timeout,"
            " tls_handshake_timeout, headers_too_large, connection_limit, overloaded, accept_failed).",
            ["reason"],
            registry=registry,
        )
        for reason in HTTP_REJECT_REASONS:
            self.http_connections_rejected.labels(reason)
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

    def set_workspace(self, workspace: str) -> None:
        """Relabel the build info when the workspace identity changes (a rotated key file)."""
        if workspace == self._workspace:
            return
        self.build_info.remove(__version__, self._api_version, self._workspace)
        self._workspace = workspace
        self.build_info.labels(__version__, self._api_version, workspace).set(1)

    def label_names(self) -> dict[str, tuple[str, ...]]:
        """Metric name -> label names, for documentation."""
        out: dict[str, tuple[str, ...]] = {}
        for metric in vars(self).values():
            if isinstance(metric, Counter | Gauge | Histogram):
                out[metric._name] = tuple(metric._labelnames)
        return out
