"""The runs overview dashboard, one function per row: throughput, failures, backlog, latency, cost
(and batches, panels/batches.py).

Every panel on run metrics reads them per workspace, through `run_series.py` or `per_workspace_panel()`.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import table, timeseries
from grafana_foundation_sdk.models import dashboard as dm

from ..knobs import Knobs
from ..names import FAILURE_REASONS_PANEL, RUNS_DASHBOARD_UID
from ..promql import (
    AGE_LABELS,
    BY_RESOURCE_LABELS,
    CREATED_LABELS,
    DURATION_LABELS,
    FAILED_REASON_LABELS,
    RUN_LABELS,
    per_workspace_panel,
    seconds,
)
from .batches import batches
from .evaluations import evaluations
from .run_series import (
    ACTIVE,
    CREATED,
    CREDITS,
    DURATIONS,
    FAILED,
    FAILED_REASON,
    FINISHED,
    OLDEST_AGE,
    PAGES,
    PROCESSED_DURATION,
    PROCESSING,
    RISK,
    TAG_CREDITS,
    failed_rate,
    finished_rate,
    in_range,
    rate,
)
from .widgets import (
    DS,
    KIND,
    RI,
    Generated,
    Query,
    Row,
    base,
    common_variables,
    finalize,
    graph,
    label_variable,
    single,
    targets,
    with_rows,
)

# The failure panels show exemplars: where a FAILED series rose, the run that failed last in it.
EXEMPLAR_NOTE = (
    " Points: the run of a FAILED series that failed last, with its run ID (exemplars; a click opens the "
    "run in Extend)."
)


def runs_overview(k: Knobs) -> Generated:
    """The runs overview: what Extend did with the runs of the selected workspaces, and why runs fail."""
    dashboard = base(
        RUNS_DASHBOARD_UID,
        "Extend runs overview",
        "Runs of the Extend document-processing API as counted by extend-exporter.",
    ).variables(
        [
            *common_variables(),
            label_variable("source", "Source", f"label_values(extend_runs_finished_total{{{KIND}}}, source)"),
            label_variable(
                "processor_type",
                "Processor type",
                f"label_values(extend_runs_finished_total{{{KIND}}}, processor_type)",
            ),
        ]
    )
    rows = [
        summary(k),
        throughput_and_failures(k),
        backlog(k),
        latency_and_cost(),
        why_runs_fail(),
        per_resource(),
        batches(),
        evaluations(),
    ]
    return finalize(with_rows(dashboard, rows))


def summary(k: Knobs) -> Row:
    """Stats over the dashboard's time range: finished, FAILED, ratio, active, oldest in review, credits."""
    return Row(
        "Summary for the time range",
        [
            single(
                "Finished runs",
                "Runs that reached a terminal status within the time range.",
                Query(f"sum({in_range(FINISHED, RUN_LABELS)})"),
            ),
            single(
                "FAILED runs",
                "Runs that ended FAILED within the time range.",
                Query(f"sum({in_range(FAILED, RUN_LABELS)})"),
            ),
            single(
                "Failure ratio in range",
                "FAILED runs divided by all finished runs within the time range.",
                Query(f"sum({in_range(FAILED, RUN_LABELS)}) / sum({in_range(FINISHED, RUN_LABELS)})"),
                unit="percentunit",
                threshold=k.failure_ratio_threshold,
            ),
            single(
                "Active runs",
                "Runs now PENDING, PROCESSING, NEEDS_REVIEW or CANCELLING.",
                Query(f"sum({ACTIVE})"),
            ),
            single(
                "Oldest run awaiting review",
                f"Age of the oldest run in NEEDS_REVIEW; the review-backlog alert fires above "
                f"{k.review_backlog_max_age}.",
                Query(
                    "max("
                    + per_workspace_panel(
                        f'extend_runs_oldest_active_age_seconds{{{KIND}, status="NEEDS_REVIEW"}}', AGE_LABELS
                    )
                    + ")"
                ),
                unit="s",
                threshold=seconds(k.review_backlog_max_age),
            ),
            single(
                "Credits burned",
                "Credits of runs that finished within the time range, where the API reports usage.",
                Query(f"sum({in_range(CREDITS, CREATED_LABELS)})"),
            ),
        ],
    )


def throughput_and_failures(k: Knobs) -> Row:
    """Finished runs per minute, the failure ratio over the alert's window, created vs finished."""
    ratio_w = k.failure_ratio_window
    return Row(
        "Throughput and failures",
        [
            graph(
                "Finished runs per minute by status and kind",
                "Terminal transitions per minute (PROCESSED, FAILED, CANCELLED, REJECTED)." + EXEMPLAR_NOTE,
                [
                    Query(
                        f"sum by (kind, status) ({finished_rate(RI)}) * 60",
                        "{{kind}} {{status}}",
                    )
                ],
                exemplars=True,
            ),
            graph(
                "Failure ratio",
                f"Share of finished runs that FAILED over {ratio_w}, the window of the failure-ratio "
                f"alert (dashed line: its threshold; it also needs {k.failure_ratio_min_finished} finished "
                "runs in the window).",
                [
                    Query(
                        f"sum by (kind) ({failed_rate(f'[{ratio_w}]')})"
                        f" / sum by (kind) ({finished_rate(f'[{ratio_w}]')})",
                        "{{kind}}",
                    )
                ],
                unit="percentunit",
                threshold=k.failure_ratio_threshold,
            ),
            graph(
                "Created vs finished runs per minute",
                "Throughput and backlog growth: when created stays above finished, the backlog grows.",
                [
                    Query(
                        f"sum by (kind) ({rate(CREATED, CREATED_LABELS)}) * 60",
                        "{{kind}} created",
                    ),
                    Query(f"sum by (kind) ({finished_rate(RI)}) * 60", "{{kind}} finished"),
                    Query(
                        f"sum by (kind) ({rate(CREATED, CREATED_LABELS)}) * 60"
                        f" - sum by (kind) ({finished_rate(RI)}) * 60",
                        "{{kind}} backlog growth",
                    ),
                ],
                width=24,
            ),
        ],
    )


def backlog(k: Knobs) -> Row:
    """Runs in a non-terminal status and the age of the oldest in each."""
    return Row(
        "Backlog",
        [
            graph(
                "Active runs by status",
                "Runs in a non-terminal status, by kind and status.",
                [
                    Query(
                        f"sum by (kind, status) ({ACTIVE})",
                        "{{kind}} {{status}}",
                    )
                ],
                stacked=True,
            ),
            graph(
                "Oldest active run",
                f"Age of the oldest run in each active status (review backlog SLA: dashed line at "
                f"{k.review_backlog_max_age}; PROCESSING alerts above {k.stuck_processing_max_age}).",
                [
                    Query(
                        f"max by (kind, status) ({per_workspace_panel(OLDEST_AGE, AGE_LABELS)})",
                        "{{kind}} {{status}}",
                    )
                ],
                unit="s",
                log_scale=True,
                threshold=seconds(k.review_backlog_max_age),
            ),
        ],
    )


def latency_and_cost() -> Row:
    """Run duration quantiles and credits burned per hour."""
    return Row(
        "Latency and cost",
        [
            graph(
                "Run duration p50 / p95 / p99 by kind",
                "From creation to the terminal status, from the extend_run_duration_seconds histogram. "
                "Points: per bucket, the run whose duration fell there last, at its duration (exemplars; a "
                "click opens the run in Extend).",
                [
                    Query(
                        f"histogram_quantile({q}, sum by (kind, le) ({rate(DURATIONS, DURATION_LABELS)}))",
                        f"{{{{kind}}}} p{int(q * 100)}",
                    )
                    for q in (0.5, 0.95, 0.99)
                ],
                unit="s",
                exemplars=True,
            ),
            graph(
                "Credits burned per hour",
                "Credits of finished runs per hour, where the API reports usage.",
                [
                    Query(
                        f"sum by (kind) ({rate(CREDITS, CREATED_LABELS)}) * 3600",
                        "{{kind}}",
                    )
                ],
            ),
        ],
    )


def why_runs_fail() -> Row:
    """Failure reasons, pages processed, Extend's processing time, the verify risk mix, credits by tag."""
    return Row(
        "Why runs fail and what they process",
        [
            graph(
                FAILURE_REASONS_PANEL,
                "FAILED runs per minute by the summary's failureReason (extract, classify, split, parse, "
                "edit and verify runs; workflow summaries carry none). UNSPECIFIED: no reason given; OTHER: "
                "undocumented reasons beyond the exporter's cap." + EXEMPLAR_NOTE,
                [
                    Query(
                        f"sum by (kind, failure_reason) ({rate(FAILED_REASON, FAILED_REASON_LABELS)}) * 60",
                        "{{kind}} {{failure_reason}}",
                    )
                ],
                stacked=True,
                exemplars=True,
            ),
            graph(
                "Pages processed per minute",
                "Pages of runs that finished PROCESSED, from metrics.pageCount (parse, edit, verify runs).",
                [
                    Query(
                        f"sum by (kind) ({rate(PAGES, ('kind',))}) * 60",
                        "{{kind}}",
                    )
                ],
            ),
            _processing_vs_end_to_end(),
            graph(
                "Verify risk mix",
                "Verify runs finishing PROCESSED per minute, by riskLevel.",
                [
                    Query(
                        f"sum by (risk_level) ({rate(RISK, ('kind', 'risk_level'))}) * 60",
                        "{{risk_level}}",
                    )
                ],
                stacked=True,
            ),
            graph(
                "Credits per hour by usage tag",
                "Credits of PROCESSED runs per metadata['extend:usage_tags'] tag; empty unless the exporter "
                "runs with EXTEND_EXPORTER_USAGE_TAGS (a run with two listed tags counts under both).",
                [
                    Query(
                        f"sum by (usage_tag) ({rate(TAG_CREDITS, ('kind', 'usage_tag'))}) * 3600",
                        "{{usage_tag}}",
                    )
                ],
                width=24,
            ),
        ],
    )


def _processing_vs_end_to_end() -> timeseries.Panel:
    """Extend's processing time against creation-to-finish: the gap between them is time spent queued."""
    return graph(
        "Extend processing time vs end-to-end duration (p50 / p95)",
        "Extend's own processing time (metrics.processingTimeMs) against creation-to-finish of the "
        "same kinds' PROCESSED runs; the gap is time spent queued.",
        [
            query
            for q in (0.5, 0.95)
            for query in (
                Query(
                    f"histogram_quantile({q}, sum by (kind, le) ({rate(PROCESSING, ('kind', 'le'))}))",
                    f"{{{{kind}}}} processing p{int(q * 100)}",
                ),
                Query(
                    f"histogram_quantile({q}, sum by (kind, le) "
                    f"({rate(PROCESSED_DURATION, DURATION_LABELS)})"
                    " and on (kind) group by (kind) "
                    f"(extend_run_processing_seconds_count{{{KIND}}}))",
                    f"{{{{kind}}}} end-to-end p{int(q * 100)}",
                ),
            )
        ],
        unit="s",
    )


def per_resource() -> Row:
    """The processors and workflows with the most FAILED runs (needs per-resource labels)."""
    return Row(
        "Per processor and workflow",
        [
            table.Panel()
            .title("Top failing processors and workflows")
            .description(
                "FAILED runs in the time range per processor / workflow, named through extend_resource_info. "
                "Empty unless the exporter runs with EXTEND_EXPORTER_PER_RESOURCE_LABELS=true; IDs beyond "
                "the exporter's cap count under resource_id OTHER."
            )
            .datasource(DS)
            .targets(
                targets(
                    [
                        Query(
                            "topk(10, ("
                            "(X > 0) * on (kind, resource_id) group_left (resource_name) "
                            f"topk by (kind, resource_id) (1, extend_resource_info{{{KIND}}})"
                            ") or on (kind, resource_id) (X > 0))".replace(
                                "X",
                                "sum by (kind, resource_id) ("
                                + per_workspace_panel(
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
            ),
        ],
    )
