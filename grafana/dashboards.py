"""The two Grafana dashboards, built with Grafana's grafana-foundation-sdk.

Every query filters on `$job`, `$instance` and `$workspace` (populated from `extend_exporter_build_info`,
so any job name works), reads through the `$datasource` variable, and uses `rate()`/`increase()` on
counters so an exporter restart (a counter reset) does not show as a dip or a spike.

Run metrics are read through `per_workspace()`: one value per workspace, the max across the exporters
that poll it, so a second exporter of a workspace (a sidecar on a 2-replica app) never doubles a number.
Every new panel on run metrics must do the same; totals then sum across workspaces.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

from .knobs import Knobs
from .names import FAILURE_REASONS_PANEL, HEALTH_DASHBOARD_UID, RUNS_DASHBOARD_UID
from .promql import (
    AGE_LABELS,
    BY_RESOURCE_LABELS,
    CREATED_LABELS,
    DURATION_LABELS,
    FAILED_REASON_LABELS,
    RUN_LABELS,
    seconds,
)

DS = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
TAG = "extend-exporter"

# Label matchers shared by the queries. `.*` is every variable's "All" value, so it also matches the
# empty `source`/`processor_type` of kinds that have none.
TARGET = 'job=~"$job", instance=~"$instance"'
KIND = TARGET + ', kind=~"$kind"'
RUNS = KIND + ', source=~"$source", processor_type=~"$processor_type"'
DURATION = KIND + ', processor_type=~"$processor_type"'
#: Per scraped exporter (target), the workspace it polls; value 1 (filtered by the dashboard variables).
WORKSPACE_OF_TARGET = (
    "group by (job, instance, workspace) "
    '(extend_exporter_build_info{job=~"$job", instance=~"$instance", workspace=~"$workspace"})'
)


def per_workspace(series: str, labels: Sequence[str]) -> str:
    """`series` (per exporter: a selector, or a rate()/increase() of one) as one series per workspace and
    `labels`, the max across the exporters polling that workspace.

    Two exporters of one workspace count the same runs; adding them up would double every number, so the
    panels take one per workspace and sum only across workspaces. `labels` must be all the metric's own
    labels (see the *_LABELS tuples), or distinct series of one exporter would be merged.
    """
    return (
        f"max by (workspace, {', '.join(labels)}) "
        f"({series} * on (job, instance) group_left (workspace) {WORKSPACE_OF_TARGET})"
    )


#: The range of rate() in graphs: Grafana's $__rate_interval fits the scrape interval and the zoom.
RI = "[$__rate_interval]"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Generated:
    uid: str
    model: dict[str, Any]
    #: Panel title to panel id, for links from alert rules.
    panel_ids: dict[str, int]


def _all_option() -> dm.VariableOption:
    return dm.VariableOption(selected=True, text="All", value="$__all")


def _label_variable(name: str, label: str, query: str, *, all_value: str | None = ".*") -> db.QueryVariable:
    variable = (
        db.QueryVariable(name)
        .label(label)
        .datasource(DS)
        .query(query)
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .current(_all_option())
    )
    return variable.all_value(all_value) if all_value is not None else variable


def _common_variables() -> list[Builder[dm.VariableModel]]:
    return [
        db.DatasourceVariable("datasource").label("Data source").type("prometheus"),
        _label_variable("job", "Job", "label_values(extend_exporter_build_info, job)"),
        _label_variable(
            "workspace",
            "Workspace",
            'label_values(extend_exporter_build_info{job=~"$job"}, workspace)',
        ),
        _label_variable(
            "instance",
            "Instance",
            'label_values(extend_exporter_build_info{job=~"$job", workspace=~"$workspace"}, instance)',
            # "All" is the list of the chosen workspaces' exporters, so per-exporter panels follow $workspace.
            all_value=None,
        ),
        _label_variable("kind", "Run kind", f"label_values(extend_up{{{TARGET}}}, kind)"),
    ]


def _targets(queries: Sequence[Query], *, instant: bool = False, table_format: bool = False) -> list[Any]:
    targets: list[Any] = []
    for i, q in enumerate(queries):
        target = (
            prometheus.Dataquery().ref_id(chr(ord("A") + i)).expr(q.expr).legend_format(q.legend or "__auto")
        )
        target = target.instant() if instant else target.range()
        if table_format:
            target = target.format(pm.PromQueryFormat.TABLE)
        targets.append(target)
    return targets


def _thresholds(value: float | None, color: str = "red") -> db.ThresholdsConfig:
    steps = [dm.Threshold(value=None, color="green")]
    if value is not None:
        steps.append(dm.Threshold(value=value, color=color))
    return db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(steps)


def _legend() -> cb.VizLegendOptions:
    return (
        cb.VizLegendOptions()
        .display_mode(cm.LegendDisplayMode.TABLE)
        .placement(cm.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(["lastNotNull", "max"])
    )


def graph(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    unit: str = "short",
    threshold: float | None = None,
    stacked: bool = False,
    width: int = 12,
    height: int = 8,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .targets(_targets(queries))
        .unit(unit)
        .min(0)
        .span(width)
        .height(height)
        .legend(_legend())
        .tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.DESCENDING))
        .fill_opacity(10)
        .thresholds(_thresholds(threshold))
        .thresholds_style(
            cb.GraphThresholdsStyleConfig().mode(
                cm.GraphThresholdsStyleMode.DASHED
                if threshold is not None
                else cm.GraphThresholdsStyleMode.OFF
            )
        )
    )
    if stacked:
        panel = panel.stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL))
    return panel


def single(
    title: str, description: str, query: Query, *, unit: str = "short", threshold: float | None = None
) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .targets(_targets([query], instant=True))
        .unit(unit)
        .span(4)
        .height(4)
        .graph_mode(cm.BigValueGraphMode.NONE)
        .color_mode(cm.BigValueColorMode.VALUE)
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(_thresholds(threshold))
    )


def _finalize(dashboard: db.Dashboard) -> Generated:
    model: dict[str, Any] = json.loads(json.dumps(dashboard.build(), cls=JSONEncoder))
    panel_ids: dict[str, int] = {}
    for number, panel in enumerate(model["panels"], start=1):
        panel["id"] = number
        if panel["type"] != "row":
            if panel["title"] in panel_ids:
                raise ValueError(f"duplicate panel title {panel['title']!r} in {model['uid']}")
            panel_ids[panel["title"]] = number
    return Generated(uid=model["uid"], model=model, panel_ids=panel_ids)


def _links(title: str) -> list[Builder[dm.DashboardLink]]:
    return [
        db.DashboardLink(title)
        .type(dm.DashboardLinkType.DASHBOARDS)
        .tags([TAG])
        .as_dropdown(True)
        .include_vars(True)
        .keep_time(True)
    ]


def _base(uid: str, title: str, description: str) -> db.Dashboard:
    return (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG, "extend"])
        .editable()
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("browser")
        .links(_links("Extend dashboards"))
    )


def runs_overview(k: Knobs) -> Generated:
    ratio_w = k.failure_ratio_window
    finished_sel = f"extend_runs_finished_total{{{RUNS}}}"
    failed_sel = f'extend_runs_finished_total{{{RUNS}, status="FAILED"}}'
    created_sel = f"extend_runs_created_total{{{RUNS}}}"
    credits_sel = f"extend_run_credits_total{{{RUNS}}}"
    failed_reason_sel = f"extend_runs_failed_total{{{KIND}}}"
    pages_sel = f"extend_run_pages_total{{{KIND}}}"
    processing_sel = f"extend_run_processing_seconds_bucket{{{KIND}}}"
    processed_duration_sel = f'extend_run_duration_seconds_bucket{{{DURATION}, status="PROCESSED"}}'
    risk_sel = f"extend_runs_processed_by_risk_level_total{{{KIND}}}"
    tag_credits_sel = f"extend_run_credits_by_tag_total{{{KIND}}}"
    active = per_workspace(f"extend_runs_active{{{RUNS}}}", RUN_LABELS)

    def finished(window: str) -> str:
        return per_workspace(f"rate({finished_sel}{window})", RUN_LABELS)

    def failed(window: str) -> str:
        return per_workspace(f"rate({failed_sel}{window})", RUN_LABELS)

    def in_range(selector: str, labels: Sequence[str]) -> str:
        return per_workspace(f"increase({selector}[$__range])", labels)

    dashboard = (
        _base(
            RUNS_DASHBOARD_UID,
            "Extend runs overview",
            "Runs of the Extend document-processing API as counted by extend-exporter.",
        )
        .variables(
            [
                *_common_variables(),
                _label_variable(
                    "source", "Source", f"label_values(extend_runs_finished_total{{{KIND}}}, source)"
                ),
                _label_variable(
                    "processor_type",
                    "Processor type",
                    f"label_values(extend_runs_finished_total{{{KIND}}}, processor_type)",
                ),
            ]
        )
        .with_row(db.Row("Summary for the time range"))
        .with_panel(
            single(
                "Finished runs",
                "Runs that reached a terminal status within the time range.",
                Query(f"sum({in_range(finished_sel, RUN_LABELS)})"),
            )
        )
        .with_panel(
            single(
                "FAILED runs",
                "Runs that ended FAILED within the time range.",
                Query(f"sum({in_range(failed_sel, RUN_LABELS)})"),
            )
        )
        .with_panel(
            single(
                "Failure ratio in range",
                "FAILED runs divided by all finished runs within the time range.",
                Query(f"sum({in_range(failed_sel, RUN_LABELS)}) / sum({in_range(finished_sel, RUN_LABELS)})"),
                unit="percentunit",
                threshold=k.failure_ratio_threshold,
            )
        )
        .with_panel(
            single(
                "Active runs",
                "Runs now PENDING, PROCESSING, NEEDS_REVIEW or CANCELLING.",
                Query(f"sum({active})"),
            )
        )
        .with_panel(
            single(
                "Oldest run awaiting review",
                f"Age of the oldest run in NEEDS_REVIEW; the review-backlog alert fires above "
                f"{k.review_backlog_max_age}.",
                Query(
                    "max("
                    + per_workspace(
                        f'extend_runs_oldest_active_age_seconds{{{KIND}, status="NEEDS_REVIEW"}}', AGE_LABELS
                    )
                    + ")"
                ),
                unit="s",
                threshold=seconds(k.review_backlog_max_age),
            )
        )
        .with_panel(
            single(
                "Credits burned",
                "Credits of runs that finished within the time range, where the API reports usage.",
                Query(f"sum({in_range(credits_sel, CREATED_LABELS)})"),
            )
        )
        .with_row(db.Row("Throughput and failures"))
        .with_panel(
            graph(
                "Finished runs per minute by status and kind",
                "Terminal transitions per minute (PROCESSED, FAILED, CANCELLED, REJECTED).",
                [
                    Query(
                        f"sum by (kind, status) ({finished(RI)}) * 60",
                        "{{kind}} {{status}}",
                    )
                ],
            )
        )
        .with_panel(
            graph(
                "Failure ratio",
                f"Share of finished runs that FAILED over {ratio_w}, the window of the failure-ratio "
                f"alert (dashed line: its threshold; it also needs {k.failure_ratio_min_finished} finished "
                "runs in the window).",
                [
                    Query(
                        f"sum by (kind) ({failed(f'[{ratio_w}]')})"
                        f" / sum by (kind) ({finished(f'[{ratio_w}]')})",
                        "{{kind}}",
                    )
                ],
                unit="percentunit",
                threshold=k.failure_ratio_threshold,
            )
        )
        .with_panel(
            graph(
                "Created vs finished runs per minute",
                "Throughput and backlog growth: when created stays above finished, the backlog grows.",
                [
                    Query(
                        f"sum by (kind) ({per_workspace(f'rate({created_sel}{RI})', CREATED_LABELS)}) * 60",
                        "{{kind}} created",
                    ),
                    Query(f"sum by (kind) ({finished(RI)}) * 60", "{{kind}} finished"),
                    Query(
                        f"sum by (kind) ({per_workspace(f'rate({created_sel}{RI})', CREATED_LABELS)}) * 60"
                        f" - sum by (kind) ({finished(RI)}) * 60",
                        "{{kind}} backlog growth",
                    ),
                ],
                width=24,
            )
        )
        .with_row(db.Row("Backlog"))
        .with_panel(
            graph(
                "Active runs by status",
                "Runs in a non-terminal status, by kind and status.",
                [
                    Query(
                        f"sum by (kind, status) ({active})",
                        "{{kind}} {{status}}",
                    )
                ],
                stacked=True,
            )
        )
        .with_panel(
            graph(
                "Oldest active run",
                f"Age of the oldest run in each active status (review backlog SLA: dashed line at "
                f"{k.review_backlog_max_age}; PROCESSING alerts above {k.stuck_processing_max_age}).",
                [
                    Query(
                        "max by (kind, status) "
                        f"({per_workspace(f'extend_runs_oldest_active_age_seconds{{{KIND}}}', AGE_LABELS)})",
                        "{{kind}} {{status}}",
                    )
                ],
                unit="s",
                threshold=seconds(k.review_backlog_max_age),
            )
        )
        .with_row(db.Row("Latency and cost"))
        .with_panel(
            graph(
                "Run duration p50 / p95 / p99 by kind",
                "From creation to the terminal status, from the extend_run_duration_seconds histogram.",
                [
                    Query(
                        f"histogram_quantile({q}, sum by (kind, le) ("
                        + per_workspace(
                            f"rate(extend_run_duration_seconds_bucket{{{DURATION}}}{RI})", DURATION_LABELS
                        )
                        + "))",
                        f"{{{{kind}}}} p{int(q * 100)}",
                    )
                    for q in (0.5, 0.95, 0.99)
                ],
                unit="s",
            )
        )
        .with_panel(
            graph(
                "Credits burned per hour",
                "Credits of finished runs per hour, where the API reports usage.",
                [
                    Query(
                        f"sum by (kind) ({per_workspace(f'rate({credits_sel}{RI})', CREATED_LABELS)}) * 3600",
                        "{{kind}}",
                    )
                ],
            )
        )
        .with_row(db.Row("Why runs fail and what they process"))
        .with_panel(
            graph(
                FAILURE_REASONS_PANEL,
                "FAILED runs per minute by the summary's failureReason (extract, classify, split, parse, "
                "edit and verify runs; workflow summaries carry none). UNSPECIFIED: no reason given; OTHER: "
                "undocumented reasons beyond the exporter's cap.",
                [
                    Query(
                        "sum by (kind, failure_reason) "
                        f"({per_workspace(f'rate({failed_reason_sel}{RI})', FAILED_REASON_LABELS)}) * 60",
                        "{{kind}} {{failure_reason}}",
                    )
                ],
                stacked=True,
            )
        )
        .with_panel(
            graph(
                "Pages processed per minute",
                "Pages of runs that finished PROCESSED, from metrics.pageCount (parse, edit, verify runs).",
                [
                    Query(
                        f"sum by (kind) ({per_workspace(f'rate({pages_sel}{RI})', ('kind',))}) * 60",
                        "{{kind}}",
                    )
                ],
            )
        )
        .with_panel(
            graph(
                "Extend processing time vs end-to-end duration (p50 / p95)",
                "Extend's own processing time (metrics.processingTimeMs) against creation-to-finish of the "
                "same kinds' PROCESSED runs; the gap is time spent queued.",
                [
                    query
                    for q in (0.5, 0.95)
                    for query in (
                        Query(
                            f"histogram_quantile({q}, sum by (kind, le) "
                            f"({per_workspace(f'rate({processing_sel}{RI})', ('kind', 'le'))}))",
                            f"{{{{kind}}}} processing p{int(q * 100)}",
                        ),
                        Query(
                            f"histogram_quantile({q}, sum by (kind, le) "
                            f"({per_workspace(f'rate({processed_duration_sel}{RI})', DURATION_LABELS)})"
                            " and on (kind) group by (kind) "
                            f"(extend_run_processing_seconds_count{{{KIND}}}))",
                            f"{{{{kind}}}} end-to-end p{int(q * 100)}",
                        ),
                    )
                ],
                unit="s",
            )
        )
        .with_panel(
            graph(
                "Verify risk mix",
                "Verify runs finishing PROCESSED per minute, by riskLevel.",
                [
                    Query(
                        "sum by (risk_level) "
                        f"({per_workspace(f'rate({risk_sel}{RI})', ('kind', 'risk_level'))}) * 60",
                        "{{risk_level}}",
                    )
                ],
                stacked=True,
            )
        )
        .with_panel(
            graph(
                "Credits per hour by usage tag",
                "Credits of PROCESSED runs per metadata['extend:usage_tags'] tag; empty unless the exporter "
                "runs with EXTEND_EXPORTER_USAGE_TAGS (a run with two listed tags counts under both).",
                [
                    Query(
                        "sum by (usage_tag) "
                        f"({per_workspace(f'rate({tag_credits_sel}{RI})', ('kind', 'usage_tag'))}) * 3600",
                        "{{usage_tag}}",
                    )
                ],
                width=24,
            )
        )
        .with_row(db.Row("Per processor and workflow"))
        .with_panel(
            table.Panel()
            .title("Top failing processors and workflows")
            .description(
                "FAILED runs in the time range per processor / workflow, named through extend_resource_info. "
                "Empty unless the exporter runs with EXTEND_EXPORTER_PER_RESOURCE_LABELS=true; IDs beyond "
                "the exporter's cap count under resource_id 'other'."
            )
            .datasource(DS)
            .targets(
                _targets(
                    [
                        Query(
                            "topk(10, ("
                            "(X > 0) * on (kind, resource_id) group_left (resource_name) "
                            f"topk by (kind, resource_id) (1, extend_resource_info{{{KIND}}})"
                            ") or on (kind, resource_id) (X > 0))".replace(
                                "X",
                                "sum by (kind, resource_id) ("
                                + per_workspace(
                                    "increase(extend_runs_finished_by_resource_total"
                                    f'{{{KIND}, status="FAILED"}}[$__range])',
                                    BY_RESOURCE_LABELS,
                                )
                                + ")",
                            )
                        )
                    ],
                    instant=True,
                    table_format=True,
                )
            )
            .span(24)
            .height(9)
            .sort_by([cb.TableSortByFieldState().display_name("FAILED runs").desc(True)])
            .with_transformation(
                dm.DataTransformerConfig(
                    id_val="organize",
                    options={
                        "excludeByName": {"Time": True},
                        "renameByName": {
                            "kind": "Kind",
                            "resource_id": "ID",
                            "resource_name": "Name",
                            "Value": "FAILED runs",
                        },
                        "indexByName": {"resource_name": 0, "resource_id": 1, "kind": 2, "Value": 3},
                    },
                )
            )
        )
    )
    return _finalize(dashboard)


def exporter_health(k: Knobs) -> Generated:
    quota = (
        db.CustomVariable("qps_quota")
        .label("Plan QPS quota")
        .values("10,25,75")
        .current(dm.VariableOption(selected=True, text="10", value="10"))
    )
    dashboard = (
        _base(
            HEALTH_DASHBOARD_UID,
            "Extend exporter health",
            "Sync health of extend-exporter and its use of the Extend API.",
        )
        .variables([*_common_variables(), quota])
        .with_row(db.Row("Syncs"))
        .with_panel(
            statetimeline.Panel()
            .title("Sync status per kind")
            .description("extend_up: 1 when the last sync of the kind succeeded, 0 when it failed.")
            .datasource(DS)
            .targets(_targets([Query(f"max by (kind) (extend_up{{{KIND}}})", "{{kind}}")]))
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
        .with_panel(
            graph(
                "Time since last successful sync",
                f"Age of the last successful sync per kind; the stale-sync alert fires above "
                f"{k.sync_stale_after}.",
                [
                    Query(
                        "time() - (max by (kind) "
                        f"(extend_last_successful_sync_timestamp_seconds{{{KIND}}}) > 0)",
                        "{{kind}}",
                    )
                ],
                unit="s",
                threshold=seconds(k.sync_stale_after),
            )
        )
        .with_panel(
            graph(
                "Sync duration",
                "How long one sync of a kind takes (all its listings): p95 and mean.",
                [
                    Query(
                        "histogram_quantile(0.95, sum by (kind, le) "
                        f"(rate(extend_sync_duration_seconds_bucket{{{KIND}}}{RI})))",
                        "{{kind}} p95",
                    ),
                    Query(
                        f"sum by (kind) (rate(extend_sync_duration_seconds_sum{{{KIND}}}{RI}))"
                        f" / sum by (kind) (rate(extend_sync_duration_seconds_count{{{KIND}}}{RI}))",
                        "{{kind}} mean",
                    ),
                ],
                unit="s",
            )
        )
        .with_panel(
            graph(
                "Syncs and sync errors per minute",
                "Syncs by result, and failed syncs by reason (unauthorized, rate_limited, server_error, "
                "...).",
                [
                    Query(
                        f"sum by (kind, result) (rate(extend_syncs_total{{{KIND}}}{RI})) * 60",
                        "{{kind}} {{result}}",
                    ),
                    Query(
                        # `> 0`: only the reasons that happened, not eight flat zero lines per kind.
                        f"sum by (kind, reason) (rate(extend_sync_errors_total{{{KIND}}}{RI})) * 60 > 0",
                        "{{kind}} error: {{reason}}",
                    ),
                ],
            )
        )
        .with_panel(
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
            )
        )
        .with_panel(
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
            )
        )
        .with_panel(
            graph(
                "Exporter resident memory",
                "Resident memory of each exporter process (process_resident_memory_bytes).",
                [Query(f"process_resident_memory_bytes{{{TARGET}}}", "{{instance}}")],
                unit="bytes",
                width=6,
            )
        )
        .with_panel(
            graph(
                "Exporter CPU",
                "CPU used by each exporter process, in cores (process_cpu_seconds_total).",
                [Query(f"rate(process_cpu_seconds_total{{{TARGET}}}{RI})", "{{instance}}")],
                width=6,
            )
        )
        .with_row(db.Row("Extend API"))
        .with_panel(
            graph(
                "API requests by endpoint and code",
                "Requests per second to the Extend API by endpoint path and HTTP status ('error': no "
                "response).",
                [
                    Query(
                        f"sum by (endpoint, code) (rate(extend_api_requests_total{{{TARGET}}}{RI}))",
                        "{{endpoint}} {{code}}",
                    )
                ],
                unit="reqps",
                stacked=True,
            )
        )
        .with_panel(
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
            )
        )
        .with_panel(
            graph(
                "Retries and 429s",
                "Retried requests by reason, and requests answered 429 Too Many Requests.",
                [
                    Query(
                        f"sum by (endpoint, reason) (rate(extend_api_retries_total{{{TARGET}}}{RI})) > 0",
                        "retry {{endpoint}} {{reason}}",
                    ),
                    Query(
                        f'sum by (endpoint) (rate(extend_api_requests_total{{{TARGET}, code="429"}}{RI}))',
                        "429 {{endpoint}}",
                    ),
                ],
                unit="reqps",
            )
        )
        .with_panel(
            graph(
                "API request rate vs quota",
                "All Extend API requests per second of each exporter against the plan's QPS quota (the "
                "$qps_quota variable: PAYG 10, Scale 25+, Enterprise 75+). The quota is shared by every "
                f"client of the organisation; the rate-limited alert fires above {k.rate_limited_ratio:.0%} "
                "429s.",
                [
                    Query(
                        f"sum by (instance) (rate(extend_api_requests_total{{{TARGET}}}{RI}))",
                        "{{instance}}",
                    ),
                    Query("vector($qps_quota)", "plan quota"),
                ],
                unit="reqps",
            )
        )
    )
    return _finalize(dashboard)


def dashboards(k: Knobs) -> dict[str, Generated]:
    """File name under grafana/dashboards/ -> generated dashboard."""
    return {
        "extend-runs-overview.json": runs_overview(k),
        "extend-exporter-health.json": exporter_health(k),
    }
