"""Alerts on the exporter's syncs: failing, stale (wedged), or falling behind their interval."""

from __future__ import annotations

from ..knobs import Knobs
from ..names import HEALTH_DASHBOARD_UID
from ..promql import per_workspace_alert, seconds
from . import VALUE, Alert


def alerts(k: Knobs) -> list[Alert]:
    """The sync alerts, in rule-file order."""
    return [sync_failing(k), sync_stale(k), sync_falling_behind(k)]


def sync_failing(k: Knobs) -> Alert:
    """Every sync of a kind fails: its run metrics are frozen."""
    return Alert(
        name="ExtendSyncFailing",
        expr=per_workspace_alert("extend_up == 0", "kind"),
        for_=k.sync_failing_for,
        severity="warning",
        summary="Exporter cannot sync {{ $labels.kind }} from the Extend API",
        description=(
            "An exporter of workspace {{ $labels.workspace }} has failed every sync of "
            "{{ $labels.kind }} for "
            f"at least {k.sync_failing_for}; its run metrics for this kind are frozen."
        ),
        runbook=(
            "See extend_sync_errors_total by reason on the exporter health dashboard and the exporter's "
            "log. unauthorized/forbidden: the API key is wrong, revoked or lacks the workspace "
            "(EXTEND_WORKSPACE_ID); rate_limited: lower EXTEND_EXPORTER_MAX_REQUESTS_PER_SECOND or raise "
            "the poll interval; server_error/transport_error: Extend or the network is down, the "
            "exporter catches up by itself once it is back."
        ),
        lookback="5m",
        dashboard_uid=HEALTH_DASHBOARD_UID,
        panel_title="Sync status per kind",
    )


def sync_stale(k: Knobs) -> Alert:
    """No successful sync for a while although none failed: the syncs are not running."""
    return Alert(
        name="ExtendSyncStale",
        expr=per_workspace_alert(
            f"""\
time() - extend_last_successful_sync_timestamp_seconds > {seconds(k.sync_stale_after)}
and on (job, instance)
time() - process_start_time_seconds > {seconds(k.sync_stale_after)}
unless on (job, instance, workspace, kind)
extend_up == 0""",
            "kind",
        ),
        for_=k.sync_stale_for,
        severity="warning",
        summary="No sync of {{ $labels.kind }} for " + f"{{{{ {VALUE} | humanizeDuration }}}}",
        description=(
            "An exporter of workspace {{ $labels.workspace }} last synced "
            f"{{{{ $labels.kind }}}} {{{{ {VALUE} | "
            f"humanizeDuration }}}} ago although no sync failed: syncs are not running."
        ),
        runbook=(
            "A sync is hanging or the scheduler stopped. Check the exporter's log and /readyz, and the "
            "sync duration panel. Restart the exporter; with a state file it resumes without losing "
            "counts. If a sync legitimately takes this long (a huge first listing), raise the knob."
        ),
        lookback="5m",
        dashboard_uid=HEALTH_DASHBOARD_UID,
        panel_title="Time since last successful sync",
    )


def sync_falling_behind(k: Knobs) -> Alert:
    """Syncs start further apart than configured, or one has been running for longer than that (a
    draining batch queue once held a sync for a minute while extend_up said 1): counts arrive late."""
    return Alert(
        name="ExtendSyncFallingBehind",
        expr=per_workspace_alert(
            f"""\
(
  extend_sync_interval_seconds
  > on (job, instance) group_left ()
  ({k.sync_behind_ratio} * extend_sync_configured_interval_seconds)
)
or
(
  extend_sync_running_seconds
  > on (job, instance) group_left ()
  ({k.sync_behind_ratio} * extend_sync_configured_interval_seconds)
)""",
            "kind",
        ),
        for_=k.sync_behind_for,
        severity="warning",
        summary="Syncs of {{ $labels.kind }} run " + f"{{{{ {VALUE} | humanizeDuration }}}} apart",
        description=(
            "An exporter of workspace {{ $labels.workspace }} starts syncs of {{ $labels.kind }} "
            f"{{{{ {VALUE} | humanizeDuration }}}} apart (or one has been running that long), more than "
            f"{k.sync_behind_ratio} times its configured interval: counts and alerts arrive late."
        ),
        runbook=(
            "Compare rate(extend_exporter_request_budget_wait_seconds_total[5m]) and the API request "
            "rate with extend_exporter_request_budget_requests_per_second: a saturated budget paces the "
            "syncs. Raise EXTEND_EXPORTER_MAX_REQUESTS_PER_SECOND (within the organisation's quota), "
            "raise EXTEND_EXPORTER_POLL_INTERVAL_SECONDS, or drop kinds you do not need "
            "(docs/configuration.md: request budget per workload). Slow API answers show in the request "
            "duration panel."
        ),
        lookback="5m",
        dashboard_uid=HEALTH_DASHBOARD_UID,
        panel_title="Time since last successful sync",
    )
