"""The exporter health dashboard, one function per row: the syncs, the use of the Extend API, and the
webhook deliveries."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import statetimeline, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models import dashboard as dm

from ..knobs import Knobs
from ..names import HEALTH_DASHBOARD_UID
from ..promql import seconds
from .widgets import (
    DS,
    KIND,
    RI,
    TARGET,
    WORKSPACE,
    Generated,
    Query,
    Row,
    base,
    common_variables,
    finalize,
    graph,
    targets,
    with_rows,
)


def exporter_health(k: Knobs) -> Generated:
    """The exporter health: are syncs running and succeeding, and how the exporters use the API quota."""
    dashboard = base(
        HEALTH_DASHBOARD_UID,
        "Extend exporter health",
        "Sync health of extend-exporter and its use of the Extend API.",
    ).variables([*common_variables(), _quota_variable()])
    return finalize(with_rows(dashboard, [syncs(k), extend_api(k), webhooks(k)]))


def syncs(k: Knobs) -> Row:
    """Sync status, age, duration and errors, then the exporters themselves."""
    return Row("Syncs", [_sync_status(), *_sync_panels(k), *_exporter_panels(k)])


def _sync_status() -> statetimeline.Panel:
    """extend_up per kind over time, as OK / FAILING."""
    return (
        statetimeline.Panel()
        .title("Sync status per kind")
        .description(
            "extend_up: 1 when the last sync of the kind succeeded, 0 when it failed; one row per "
            "workspace and kind."
        )
        .datasource(DS)
        .targets(
            targets([Query(f"max by (workspace, kind) (extend_up{{{KIND}}})", "{{workspace}} {{kind}}")])
        )
        .span(12)
        .height(8)
        .mappings(
            [
                dm.ValueMap(
                    options={
                        "0": dm.ValueMappingResult(text="FAILING", color="red", index=0),
                        "1": dm.ValueMappingResult(text="OK", color="green", index=1),
                    }
                )
            ]
        )
    )


def _sync_panels(k: Knobs) -> list[Builder[dm.Panel]]:
    """Time since the last successful sync, sync duration, syncs and errors per kind."""
    return [
        graph(
            "Time since last successful sync",
            f"Age of the last successful sync per kind; the stale-sync alert fires above "
            f"{k.sync_stale_after}.",
            [
                Query(
                    "time() - (max by (workspace, kind) "
                    f"(extend_last_successful_sync_timestamp_seconds{{{KIND}}}) > 0)",
                    "{{workspace}} {{kind}}",
                )
            ],
            unit="s",
            log_scale=True,
            threshold=seconds(k.sync_stale_after),
        ),
        graph(
            "Sync duration",
            "How long one sync of a kind takes (all its listings): p95 and mean.",
            [
                Query(
                    "histogram_quantile(0.95, sum by (workspace, kind, le) "
                    f"(rate(extend_sync_duration_seconds_bucket{{{KIND}}}{RI})))",
                    "{{workspace}} {{kind}} p95",
                ),
                Query(
                    f"sum by (workspace, kind) (rate(extend_sync_duration_seconds_sum{{{KIND}}}{RI}))"
                    f" / sum by (workspace, kind) (rate(extend_sync_duration_seconds_count{{{KIND}}}{RI}))",
                    "{{workspace}} {{kind}} mean",
                ),
            ],
            unit="s",
        ),
        graph(
            "Syncs and sync errors per minute",
            "Syncs by result, and failed syncs by reason (unauthorized, rate_limited, server_error, ...).",
            [
                Query(
                    f"sum by (workspace, kind, result) (rate(extend_syncs_total{{{KIND}}}{RI})) * 60",
                    "{{workspace}} {{kind}} {{result}}",
                ),
                Query(
                    # `> 0`: only the reasons that happened, not eight flat zero lines per kind.
                    "sum by (workspace, kind, reason) "
                    f"(rate(extend_sync_errors_total{{{KIND}}}{RI})) * 60 > 0",
                    "{{workspace}} {{kind}} error: {{reason}}",
                ),
            ],
        ),
    ]


def _exporter_panels(k: Knobs) -> list[Builder[dm.Panel]]:
    """Exporters per workspace, state file write failures, memory and CPU of each exporter."""
    return [
        graph(
            "Exporters per workspace",
            "How many exporters poll each workspace (workspace ID, or key-<fingerprint> of the API key). "
            "More than 1 spends the API quota twice; the duplicate-poller alert fires after "
            f"{k.duplicate_poller_for}. Run panels count such a workspace once.",
            [
                Query(
                    "count by (workspace) (group by (instance, workspace) (extend_exporter_build_info"
                    '{job=~"$job", instance=~"$instance", workspace=~"$workspace"}))',
                    "{{workspace}}",
                )
            ],
            threshold=2,
        ),
        graph(
            "State file write failures",
            "Failed writes of the state file per interval; while they last, counts live only in memory. "
            f"The state-file alert fires on any within {k.state_write_window}.",
            [
                Query(
                    "sum by (instance) "
                    f"(increase(extend_exporter_state_write_failures_total{{{TARGET}}}{RI}))",
                    "{{instance}}",
                )
            ],
            threshold=0.5,
        ),
        graph(
            "Exporter resident memory",
            "Resident memory of each exporter process (process_resident_memory_bytes).",
            [Query(f"process_resident_memory_bytes{{{TARGET}}}", "{{instance}}")],
            unit="bytes",
            width=6,
        ),
        graph(
            "Exporter CPU",
            "CPU used by each exporter process, in cores (process_cpu_seconds_total).",
            [Query(f"rate(process_cpu_seconds_total{{{TARGET}}}{RI})", "{{instance}}")],
            width=6,
        ),
    ]


def extend_api(k: Knobs) -> Row:
    """Requests by endpoint and code, request duration, retries and 429s, request rate vs quota."""
    return Row(
        "Extend API",
        [
            graph(
                "API requests by endpoint and code",
                "Requests per second to the Extend API by endpoint path and HTTP status ('error': no "
                "response).",
                [
                    Query(
                        f"sum by (endpoint, code) (rate(extend_api_requests_total{{{WORKSPACE}}}{RI}))",
                        "{{endpoint}} {{code}}",
                    )
                ],
                unit="reqps",
                stacked=True,
            ),
            graph(
                "API request duration p95 by endpoint",
                "95th percentile of Extend API request duration.",
                [
                    Query(
                        "histogram_quantile(0.95, sum by (endpoint, le) "
                        f"(rate(extend_api_request_duration_seconds_bucket{{{TARGET}}}{RI})))",
                        "{{endpoint}}",
                    )
                ],
                unit="s",
            ),
            graph(
                "Retries and 429s",
                "Retried requests by reason, and requests answered 429 Too Many Requests.",
                [
                    Query(
                        f"sum by (endpoint, reason) (rate(extend_api_retries_total{{{WORKSPACE}}}{RI})) > 0",
                        "retry {{endpoint}} {{reason}}",
                    ),
                    Query(
                        f'sum by (endpoint) (rate(extend_api_requests_total{{{WORKSPACE}, code="429"}}{RI}))',
                        "429 {{endpoint}}",
                    ),
                ],
                unit="reqps",
            ),
            _rate_vs_quota(k),
            graph(
                "API requests per workspace",
                "Extend API requests per second of each workspace: all of an exporter's workspaces share "
                "its request budget (EXTEND_EXPORTER_MAX_REQUESTS_PER_SECOND), handed out round-robin "
                "among the workspaces waiting, so a busy one cannot starve the others.",
                [
                    Query(
                        f"sum by (workspace) (rate(extend_api_requests_total{{{WORKSPACE}}}{RI}))",
                        "{{workspace}}",
                    ),
                ],
                unit="reqps",
                stacked=True,
            ),
        ],
    )


def _quota_variable() -> db.CustomVariable:
    """The plan's QPS quota (PAYG 10, Scale 25+, Enterprise 75+), drawn against the request rate."""
    return (
        db.CustomVariable("qps_quota")
        .label("Plan QPS quota")
        .values("10,25,75")
        .current(dm.VariableOption(selected=True, text="10", value="10"))
    )


def _rate_vs_quota(k: Knobs) -> timeseries.Panel:
    """Each exporter's request rate against the plan's QPS quota (the $qps_quota variable)."""
    return graph(
        "API request rate vs quota",
        "All Extend API requests per second of each exporter (all its workspaces) against the plan's "
        "QPS quota (the $qps_quota variable: PAYG 10, Scale 25+, Enterprise 75+). The quota is shared "
        "by every client and workspace of the organisation; the rate-limited alert fires above "
        f"{k.rate_limited_ratio:.0%} 429s.",
        [
            Query(
                f"sum by (instance) (rate(extend_api_requests_total{{{TARGET}}}{RI}))",
                "{{instance}}",
            ),
            Query("vector($qps_quota)", "plan quota"),
        ],
        unit="reqps",
    )


def webhooks(k: Knobs) -> Row:
    """Deliveries by outcome, the time since the last accepted one, and the syncs they started."""
    return Row(
        "Webhooks",
        [
            graph(
                "Webhook deliveries by outcome",
                "Deliveries per minute to the webhook listener: accepted, duplicate (a redelivery), "
                "unknown_type (answered 200, nothing to do), and the refused ones: bad_signature (wrong "
                "secret or forged), stale (old or future timestamp), malformed, too_large.",
                [
                    Query(
                        f"sum by (outcome) (rate(extend_webhook_events_total{{{TARGET}}}{RI})) * 60",
                        "{{outcome}}",
                    )
                ],
                stacked=True,
                width=8,
            ),
            graph(
                "Time since the last accepted webhook",
                "Since the last delivery accepted (or the listener started). The silent-webhooks alert "
                f"fires above {k.webhook_silent_after} while runs keep finishing.",
                [
                    Query(
                        "time() - max by (instance) "
                        f"(extend_webhook_last_accepted_timestamp_seconds{{{TARGET}}})",
                        "{{instance}}",
                    )
                ],
                unit="s",
                threshold=seconds(k.webhook_silent_after),
                width=8,
            ),
            graph(
                "Syncs by trigger",
                "Syncs per minute started by the poll interval (schedule) or by a webhook delivery "
                "(webhook; deliveries in a burst share one sync).",
                [
                    Query(
                        f"sum by (kind, trigger) (rate(extend_sync_triggers_total{{{KIND}}}{RI})) * 60",
                        "{{kind}} {{trigger}}",
                    )
                ],
                width=8,
            ),
        ],
    )
