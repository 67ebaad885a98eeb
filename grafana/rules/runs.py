"""Alerts on the runs themselves: FAILED spikes and ratios, a review backlog, runs stuck in PROCESSING."""

from __future__ import annotations

from ..knobs import Knobs
from ..names import RUNS_DASHBOARD_UID
from ..promql import RUN_LABELS, duration, per_workspace_alert, seconds
from . import VALUE, WHOLE, Alert

#: The labels of extend_runs_finished_total summed away to count per kind.
_BESIDES_KIND = ", ".join(label for label in RUN_LABELS if label != "kind")


def alerts(k: Knobs) -> list[Alert]:
    """The run alerts, in rule-file order."""
    return [failed_spike(k), failure_ratio(k), review_backlog(k), stuck_processing(k)]


def failed_spike(k: Knobs) -> Alert:
    """Many runs of one kind entered FAILED within the window; silent while a catch-up after a stale
    sync could look like a spike."""
    spike_w = k.failed_spike_window
    # A sync that was stale for longer than the spike window and then caught up counts more than one
    # window's worth of FAILED runs at once. The guard looks back a little further than the window so
    # the catch-up step and the stale samples before it are always seen together. A timestamp of 0 (no
    # sync yet since the exporter started) is not staleness: a fresh start counts nothing old.
    guard_w = duration(seconds(spike_w) + 300)
    return Alert(
        name="ExtendRunsFailedSpike",
        expr=per_workspace_alert(
            f"""\
(
  sum without ({_BESIDES_KIND}) (
    increase(extend_runs_finished_total{{status="FAILED"}}[{spike_w}])
  ) >= {k.failed_spike_min_count}
)
unless on (job, instance, workspace, kind)
(
  max_over_time((time() - (extend_last_successful_sync_timestamp_seconds > 0))[{guard_w}:1m])
  > {seconds(spike_w)}
)""",
            "kind",
        ),
        for_=k.failed_spike_for,
        severity="critical",
        summary=f"{{{{ {VALUE} {WHOLE} }}}} {{{{ $labels.kind }}}} runs FAILED in {spike_w}",
        description=(
            f"Extend reported {{{{ {VALUE} {WHOLE} }}}} {{{{ $labels.kind }}}} runs entering FAILED "
            f"within the last {spike_w} (threshold {k.failed_spike_min_count}) in workspace "
            "{{ $labels.workspace }} (job {{ $labels.job }})."
        ),
        runbook=(
            "Open the Extend runs overview dashboard for this kind and find which processor or workflow "
            "fails (the top failing table needs EXTEND_EXPORTER_PER_RESOURCE_LABELS=true) and why (the "
            "failure-reason panel; the description names the top reason). Read "
            "failureReason/failureMessage of a few failed runs in the Extend dashboard: OUT_OF_CREDITS "
            "or USAGE_BLOCKED means billing; a new processor version means roll it back; corrupt or "
            "unsupported files point at the sending system. Counts that arrive right after an exporter "
            "outage are suppressed by the rule (a catch-up is not a spike)."
        ),
        lookback=guard_w,
        dashboard_uid=RUNS_DASHBOARD_UID,
        panel_title="Failure ratio",
        top_reason_window=spike_w,
    )


def failure_ratio(k: Knobs) -> Alert:
    """A large share of a kind's finished runs FAILED, with enough finished runs to be a trend."""
    ratio_w = k.failure_ratio_window
    return Alert(
        name="ExtendRunsFailureRatioHigh",
        expr=per_workspace_alert(
            f"""\
(
  sum without ({_BESIDES_KIND}) (rate(extend_runs_finished_total{{status="FAILED"}}[{ratio_w}]))
  /
  sum without ({_BESIDES_KIND}) (rate(extend_runs_finished_total[{ratio_w}]))
) > {k.failure_ratio_threshold}
and
sum without ({_BESIDES_KIND}) (increase(extend_runs_finished_total[{ratio_w}]))
  >= {k.failure_ratio_min_finished}""",
            "kind",
        ),
        for_=k.failure_ratio_for,
        severity="critical",
        summary=f"{{{{ {VALUE} | humanizePercentage }}}} of {{{{ $labels.kind }}}} runs FAILED",
        description=(
            f"{{{{ {VALUE} | humanizePercentage }}}} of the {{{{ $labels.kind }}}} runs that finished in "
            f"the last {ratio_w} FAILED (threshold {k.failure_ratio_threshold:.0%}, at least "
            f"{k.failure_ratio_min_finished} finished runs) in workspace {{{{ $labels.workspace }}}}."
        ),
        runbook=(
            "A large share of runs fails, not just a burst. Check the Extend status page and the "
            "failure reasons of recent failed runs; compare with the created-vs-finished panel to see "
            "whether the whole pipeline is affected. If one processor or workflow dominates the top "
            "failing table, roll back its latest version or pause the integration that feeds it."
        ),
        lookback=ratio_w,
        dashboard_uid=RUNS_DASHBOARD_UID,
        panel_title="Failure ratio",
        top_reason_window=ratio_w,
    )


def review_backlog(k: Knobs) -> Alert:
    """The oldest run waiting for a human review is older than the review SLA."""
    return Alert(
        name="ExtendReviewBacklogTooOld",
        expr=per_workspace_alert(
            f"""\
extend_runs_oldest_active_age_seconds{{status="NEEDS_REVIEW"}} > {seconds(k.review_backlog_max_age)}
and on (job, instance, workspace, kind)
extend_up == 1""",
            "kind",
            "status",
        ),
        for_=k.review_backlog_for,
        severity="warning",
        summary=f"{{{{ $labels.kind }}}} run waiting for review for {{{{ {VALUE} | humanizeDuration }}}}",
        description=(
            f"The oldest {{{{ $labels.kind }}}} run in NEEDS_REVIEW has waited {{{{ {VALUE} | "
            f"humanizeDuration }}}}, longer than the review SLA of {k.review_backlog_max_age}."
        ),
        runbook=(
            "Runs wait for a human reviewer in the Extend dashboard. Tell the review team, or "
            "re-balance reviewers; check the active-runs panel for a growing NEEDS_REVIEW backlog. The "
            "rule only fires while the exporter's syncs of this kind succeed, so the age is current."
        ),
        lookback="5m",
        dashboard_uid=RUNS_DASHBOARD_UID,
        panel_title="Oldest active run",
    )


def stuck_processing(k: Knobs) -> Alert:
    """The oldest PROCESSING run is older than a run takes to finish."""
    return Alert(
        name="ExtendRunsStuckProcessing",
        expr=per_workspace_alert(
            f"""\
extend_runs_oldest_active_age_seconds{{status="PROCESSING"}} > {seconds(k.stuck_processing_max_age)}
and on (job, instance, workspace, kind)
extend_up == 1""",
            "kind",
            "status",
        ),
        for_=k.stuck_processing_for,
        severity="warning",
        summary=f"{{{{ $labels.kind }}}} run PROCESSING for {{{{ {VALUE} | humanizeDuration }}}}",
        description=(
            f"The oldest {{{{ $labels.kind }}}} run in PROCESSING started "
            f"{{{{ {VALUE} | humanizeDuration }}}} ago, longer than {k.stuck_processing_max_age}."
        ),
        runbook=(
            "Find the run in the Extend dashboard (list runs of this kind with status PROCESSING, "
            "oldest first). A run stuck that long will not finish: cancel and resubmit it, and report "
            "the run ID to Extend support if several are stuck."
        ),
        lookback="5m",
        dashboard_uid=RUNS_DASHBOARD_UID,
        panel_title="Oldest active run",
    )
