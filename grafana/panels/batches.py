"""The batches row of the runs overview: active batches, how far along each is, batches finished."""

from __future__ import annotations

from ..names import BATCH_PROGRESS_PANEL
from ..promql import per_workspace_panel
from .widgets import KIND, Query, Row, graph, single

BATCH_LABELS = ("kind", "status")
BATCH_RUN_LABELS = ("kind", "batch_id", "status")
# A run of a batch still to finish; every other status (of any kind) is where it ended.
_NOT_DONE = 'status=~"PENDING|PROCESSING|NEEDS_REVIEW|CANCELLING"'


def _runs(matchers: str = "") -> str:
    selector = f"extend_batch_runs{{{KIND}{', ' + matchers if matchers else ''}}}"
    return f"sum by (kind, batch_id) ({per_workspace_panel(selector, BATCH_RUN_LABELS)})"


def batches() -> Row:
    """Tracked batches: how many are active, each one's share of runs done, finished per hour."""
    return Row(
        "Batches",
        [
            single(
                "Active batches",
                "Tracked batches not yet done (found on run summaries, by EXTEND_EXPORTER_BATCH_IDS or "
                "webhooks).",
                Query(f"sum({per_workspace_panel(f'extend_batches_active{{{KIND}}}', BATCH_LABELS)})"),
            ),
            graph(
                BATCH_PROGRESS_PANEL,
                "Share of each tracked batch's runs that are done, while it is active and for the "
                "retention after it ended (EXTEND_EXPORTER_BATCH_RETENTION_SECONDS).",
                [Query(f"1 - {_runs(_NOT_DONE)} / {_runs()}", "{{kind}} {{batch_id}}")],
                unit="percentunit",
                width=10,
            ),
            graph(
                "Batches finished per hour",
                "Tracked batches that ended, by kind and the status they ended in.",
                [
                    Query(
                        "sum by (kind, status) ("
                        + per_workspace_panel(
                            f"increase(extend_batches_finished_total{{{KIND}}}[1h])", BATCH_LABELS
                        )
                        + ")",
                        "{{kind}} {{status}}",
                    )
                ],
                width=10,
            ),
        ],
    )
