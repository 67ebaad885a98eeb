"""Alerts on batches: one that ended FAILED, one whose runs wait queued without progress."""

from __future__ import annotations

from ..knobs import Knobs
from ..names import BATCH_PROGRESS_PANEL, RUNS_DASHBOARD_UID
from ..promql import per_workspace_alert, seconds
from . import VALUE, WHOLE, Alert


def alerts(k: Knobs) -> list[Alert]:
    """The batch alerts, in rule-file order."""
    return [batch_failed(k), batch_stalled(k)]


def batch_failed(k: Knobs) -> Alert:
    """A tracked batch ended FAILED (every run of it failed, or Extend failed the batch)."""
    window = k.batch_failed_window
    return Alert(
        name="ExtendBatchFailed",
        expr=per_workspace_alert(
            f'increase(extend_batches_finished_total{{status="FAILED"}}[{window}]) > 0', "kind"
        ),
        for_=k.batch_failed_for,
        severity="warning",
        summary=f"{{{{ {VALUE} {WHOLE} }}}} {{{{ $labels.kind }}}} batches FAILED in {window}",
        description=(
            f"{{{{ {VALUE} {WHOLE} }}}} batches of {{{{ $labels.kind }}}} ended FAILED within the last "
            f"{window} in workspace {{{{ $labels.workspace }}}} (job {{{{ $labels.job }}}})."
        ),
        runbook=(
            'Find the batch on the batches row of the runs overview (extend_batch_info{status="FAILED"} '
            "names it while it is retained, EXTEND_EXPORTER_BATCH_RETENTION_SECONDS) and read a few of "
            "its runs' failureReason in the Extend dashboard: the runs' failure reasons panel shows the "
            "same failures by reason. Resubmit the files once the cause (credits, a processor version, "
            "the files themselves) is fixed."
        ),
        lookback=window,
        dashboard_uid=RUNS_DASHBOARD_UID,
        panel_title=BATCH_PROGRESS_PANEL,
    )


def batch_stalled(k: Knobs) -> Alert:
    """A batch still active, with runs queued PENDING, whose runs have not changed status for a while."""
    after = seconds(k.batch_stalled_after)
    return Alert(
        name="ExtendBatchStalled",
        expr=per_workspace_alert(
            f"""\
(time() - extend_batch_last_progress_timestamp_seconds > {after})
and on (job, instance, workspace, kind, batch_id)
(extend_batch_runs{{status="PENDING"}} > 0)
and on (job, instance, workspace, kind, batch_id)
extend_batch_info{{status=~"PENDING|PROCESSING"}}""",
            "kind",
            "batch_id",
        ),
        for_=k.batch_stalled_for,
        severity="warning",
        summary="Batch {{ $labels.batch_id }} has not moved for " + f"{{{{ {VALUE} | humanizeDuration }}}}",
        description=(
            "No run of {{ $labels.kind }} batch {{ $labels.batch_id }} in workspace {{ $labels.workspace }} "
            f"changed status for {{{{ {VALUE} | humanizeDuration }}}} while some of its runs wait PENDING "
            f"(threshold {k.batch_stalled_after})."
        ),
        runbook=(
            "Extend's queue is not draining this batch. Compare with the other batches and the active "
            "runs of the kind on the runs overview: if every queue is still, check Extend's status page "
            "and the workspace's concurrency and credits (an OUT_OF_CREDITS failure stops all runs); if "
            "only this batch waits, contact Extend support with the batch ID. The exporter reads the "
            "batch at every sync of its kind, so a stale exporter (ExtendSyncStale) also looks stalled."
        ),
        lookback="5m",
        dashboard_uid=RUNS_DASHBOARD_UID,
        panel_title=BATCH_PROGRESS_PANEL,
    )
