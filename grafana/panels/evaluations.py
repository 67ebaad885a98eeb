"""The evaluation runs row of the runs overview: each watched run's overall score, its files done."""

from __future__ import annotations

from ..promql import per_workspace_panel
from .widgets import WORKSPACE, Query, Row, graph

RUN_LABELS = ("evaluation_run_id",)
ENTITY_LABELS = ("evaluation_run_id", "entity_type", "entity_id", "entity_version")


def _with_entity(series: str) -> str:
    """`series` (one per workspace and evaluation run) with the processor version that run evaluated;
    the info side is grouped first, as two exporters of one workspace both expose it."""
    info = f"group by (workspace, {', '.join(ENTITY_LABELS)}) (extend_evaluation_run_info{{{WORKSPACE}}})"
    extra = ", ".join(ENTITY_LABELS[1:])
    return f"{series} * on (workspace, evaluation_run_id) group_left ({extra}) {info}"


def _files(state: str) -> str:
    selector = f'extend_evaluation_run_files{{{WORKSPACE}, state="{state}"}}'
    return per_workspace_panel(selector, RUN_LABELS)


def evaluations() -> Row:
    """Watched evaluation set runs (EXTEND_EXPORTER_EVALUATION_RUN_IDS): a processor version's accuracy
    beside the failure panels above, and how far each run is."""
    overall = per_workspace_panel(
        f'extend_evaluation_run_score{{{WORKSPACE}, field=""}}', (*RUN_LABELS, "metric")
    )
    return Row(
        "Evaluation runs",
        [
            graph(
                "Evaluation scores",
                "Overall scores of each watched evaluation set run (EXTEND_EXPORTER_EVALUATION_RUN_IDS), "
                "by the processor version it evaluated: accuracy for extractors and classifiers, "
                "precision, recall and F1 as the API gives them. Per field: extend_evaluation_run_score "
                "with a field label.",
                [
                    Query(
                        _with_entity(overall),
                        "{{entity_id}} {{entity_version}} {{metric}} ({{evaluation_run_id}})",
                    )
                ],
                unit="percentunit",
            ),
            graph(
                "Evaluation files processed",
                "Share of each watched evaluation set run's files processed so far.",
                [
                    Query(
                        _with_entity(f"{_files('processed')} / {_files('total')}"),
                        "{{entity_id}} {{entity_version}} ({{evaluation_run_id}})",
                    )
                ],
                unit="percentunit",
            ),
        ],
    )
