"""Alerts on the exporter processes: state file writes failing, an exporter down or absent,
a workspace polled twice."""

from __future__ import annotations

from ..knobs import Knobs
from ..names import HEALTH_DASHBOARD_UID
from . import VALUE, Alert


def alerts(k: Knobs) -> list[Alert]:
    """The exporter alerts, in rule-file order."""
    return [state_file_write_failing(k), exporter_down(k), exporter_absent(k), workspace_polled_twice(k)]


def state_file_write_failing(k: Knobs) -> Alert:
    """The state file cannot be written: a restart would lose counts."""
    return Alert(
        name="ExtendStateFileWriteFailing",
        expr=f"""\
increase(extend_exporter_state_write_failures_total[{k.state_write_window}]) > 0""",
        for_=k.state_write_for,
        severity="warning",
        summary="Extend exporter {{ $labels.instance }} cannot write its state file",
        description=(
            "Exporter {{ $labels.instance }} failed to write its state file (EXTEND_EXPORTER_STATE_FILE) "
            f"in the last {k.state_write_window}: counts live only in memory and a restart would lose "
            "the runs counted since the last good write."
        ),
        runbook=(
            "The exporter's log names the error. Check that the state file's directory exists, is "
            "writable by the exporter's user (uid 10001 in the image) and that its volume is not full "
            "or mounted read-only."
        ),
        lookback=k.state_write_window,
        dashboard_uid=HEALTH_DASHBOARD_UID,
        panel_title="State file write failures",
    )


def exporter_down(k: Knobs) -> Alert:
    """A job/workspace that had an exporter has none answering, while the job still has targets."""
    return Alert(
        name="ExtendExporterDown",
        expr=f"""\
(
  group by (job, workspace) (max_over_time(extend_exporter_build_info[{k.exporter_down_lookback}]))
  unless on (job, workspace)
  group by (job, workspace) (extend_exporter_build_info)
)
and on (job)
group by (job) (up)""",
        for_=k.exporter_down_for,
        severity="warning",
        summary="No exporter of job {{ $labels.job }} serves workspace {{ $labels.workspace }}",
        description=(
            "Job {{ $labels.job }} scraped an extend-exporter of workspace {{ $labels.workspace }} "
            "within "
            f"the last {k.exporter_down_lookback}, still has targets, but none of them answers for this "
            "workspace now: its Extend runs are not monitored."
        ),
        runbook=(
            "Keyed on job and workspace, not on a pod address: a rollout or a reschedule (a new pod "
            "answering within the pending time) does not fire, and a job without targets (scaled to "
            "zero on purpose) is silent. Check the exporter pod (crash loop, OOM, image pull, bad "
            "settings exit 2) and the Prometheus target page for the scrape error."
        ),
        lookback=k.exporter_down_lookback,
        dashboard_uid=HEALTH_DASHBOARD_UID,
        panel_title="Sync status per kind",
    )


def exporter_absent(k: Knobs) -> Alert:
    """No exporter is scraped at all, so no other alert can fire."""
    return Alert(
        name="ExtendExporterAbsent",
        expr=f"absent(max_over_time(extend_exporter_build_info[{k.exporter_down_lookback}]))",
        for_=k.exporter_absent_for,
        severity="warning",
        summary="No extend-exporter is scraped",
        description=(
            "Prometheus has not scraped any extend-exporter within the last "
            f"{k.exporter_down_lookback}: no Extend alert can fire."
        ),
        runbook=(
            "Check that the exporter runs and that Prometheus scrapes it (scrape config, ServiceMonitor "
            "labels, network policy). Remove these rules from Prometheus servers that are not meant "
            "to scrape an exporter."
        ),
        lookback=k.exporter_down_lookback,
        dashboard_uid=HEALTH_DASHBOARD_UID,
        panel_title="Sync status per kind",
    )


def workspace_polled_twice(k: Knobs) -> Alert:
    """More than one exporter polls one workspace, spending the API quota twice."""
    return Alert(
        name="ExtendWorkspacePolledTwice",
        # Distinct addresses: one exporter scraped by two jobs is still one poller.
        expr="count by (workspace) (group by (instance, workspace) (extend_exporter_build_info)) > 1",
        for_=k.duplicate_poller_for,
        severity="warning",
        summary=f"{{{{ {VALUE} }}}} exporters poll workspace {{{{ $labels.workspace }}}}",
        description=(
            f"{{{{ {VALUE} }}}} extend-exporters poll workspace {{{{ $labels.workspace }}}} at once: "
            "each "
            "spends its own share of the organisation's API quota on the same runs."
        ),
        runbook=(
            "Poll each workspace from one exporter (one per organisation, docs/workspaces.md). A sidecar "
            "on a workload with more than one replica, a second deployment with the same key, or two "
            "exporters whose EXTEND_WORKSPACE_ID lists overlap, poll twice: scale the sidecar's workload "
            "to one replica, move to the standalone deployment, or take the workspace out of one list. "
            "Dashboards and alerts take the max across the duplicates, so no count is doubled meanwhile."
        ),
        lookback="5m",
        dashboard_uid=HEALTH_DASHBOARD_UID,
        panel_title="Exporters per workspace",
    )
