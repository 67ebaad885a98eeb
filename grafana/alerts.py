"""The one definition of extend-exporter's alerts, rendered as Prometheus rules and Grafana alert rules.

Every threshold, window and `for:` duration is a knob in `Knobs`; `python -m grafana.generate --set
NAME=VALUE` regenerates both alert files with other values. The defaults and the reasoning behind them
are documented on each field.

Each run or sync alert is computed per exporter (target) and then reduced by `per_workspace()`: one series
per job, workspace and kind, the max across the exporters that poll the same workspace (`workspace` comes
from `extend_exporter_build_info`). Two exporters of one workspace so never add up and never page twice;
two workspaces are never mixed. Liveness alerts key on job and workspace, never on a pod address, so a
rollout or a reschedule (a new pod, a new address) is not an outage.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from grafana_foundation_sdk.builders import alerting, expr, prometheus
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import alerting as am
from grafana_foundation_sdk.models import dashboard as dm

#: UID of the Prometheus data source that `grafana/provisioning/datasources` creates; the Grafana alert
#: rules query it (a provisioned rule cannot use a dashboard variable).
DATASOURCE_UID = "extend-prometheus"
GRAFANA_FOLDER = "Extend"
GROUP_NAME = "extend-exporter"
#: Sentinel in annotation templates for the alert's value; Prometheus and Grafana spell it differently.
VALUE = "@VALUE"

Severity = Literal["critical", "warning"]

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(total_seconds: int) -> str:
    """The shortest simple Prometheus duration for a number of seconds (`900` -> `15m`)."""
    for unit in ("d", "h", "m"):
        if total_seconds % _UNIT_SECONDS[unit] == 0:
            return f"{total_seconds // _UNIT_SECONDS[unit]}{unit}"
    return f"{total_seconds}s"


def seconds(text: str) -> int:
    """Seconds in a simple Prometheus duration such as `10m` (one number, one unit)."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a simple duration (like 90s, 10m, 4h): {text!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


#: The workspace each scraped exporter polls: one series per target, value 1.
WORKSPACE_OF_TARGET = "group by (job, instance, workspace) (extend_exporter_build_info)"
#: Labels an alert keeps: the routing labels of the scrape (`namespace` where service discovery sets it).
ALERT_KEY = ("namespace", "job", "workspace")


def per_workspace(expr: str, *by: str) -> str:
    """`expr`, evaluated per exporter (it carries `job` and `instance`), reduced to one series per job,
    workspace and `by` labels: the max across exporters polling the same workspace. Every alert on run or
    sync metrics goes through this, so a second exporter of a workspace never doubles a value or a page."""
    labels = ", ".join((*ALERT_KEY, *by))
    body = "\n".join("    " + line for line in expr.splitlines())
    return (
        f"max by ({labels}) (\n  (\n{body}\n  )\n"
        f"  * on (job, instance) group_left (workspace)\n  {WORKSPACE_OF_TARGET}\n)"
    )


@dataclass(frozen=True)
class Knobs:
    """Thresholds and windows of the alerts (and the threshold lines drawn on the dashboards)."""

    # FAILED spike, absolute: FAILED runs of one kind counted by one exporter within the window. The
    # window must be longer than the exporter's poll interval (default 60 s): counters move once per sync.
    failed_spike_window: str = "10m"
    failed_spike_min_count: int = 10
    # Short: an increase over a window cannot flap on one scrape, and a spike should page quickly.
    failed_spike_for: str = "2m"
    # FAILED ratio: share of the kind's finished runs that FAILED within the window ...
    failure_ratio_window: str = "10m"
    failure_ratio_threshold: float = 0.2
    # ... only when at least this many runs finished in the window (3 of 4 failing is not a trend) ...
    failure_ratio_min_finished: int = 20
    # ... for this long (a ratio is noisier than a count, so it must hold for a while).
    failure_ratio_for: str = "5m"
    # Oldest run waiting in NEEDS_REVIEW (the human review SLA).
    review_backlog_max_age: str = "4h"
    review_backlog_for: str = "15m"
    # Oldest run in PROCESSING.
    stuck_processing_max_age: str = "1h"
    stuck_processing_for: str = "15m"
    # Syncs of a kind failing (extend_up == 0).
    sync_failing_for: str = "10m"
    # No successful sync for this long although the last one did not fail (wedged scheduler or request).
    sync_stale_after: str = "15m"
    sync_stale_for: str = "5m"
    # Failed writes of the state file within this window (counts then survive no restart).
    state_write_window: str = "15m"
    state_write_for: str = "5m"
    # Syncs of a kind starting this many times the configured interval apart: the request budget or
    # slow listings cannot keep up (scheduler jitter moves an interval by at most 20%).
    sync_behind_ratio: float = 1.5
    sync_behind_for: str = "15m"
    # How long Prometheus remembers which job/workspace pairs have an exporter: one scraped within this
    # look-back and not now is down (while its job still has targets), or, for all of them, absent.
    exporter_down_lookback: str = "1d"
    # Longer than a rollout or a reschedule takes to bring a new pod up.
    exporter_down_for: str = "5m"
    # No exporter scraped at all.
    exporter_absent_for: str = "15m"
    # More than one exporter on one workspace; longer than a surge rollout's overlap.
    duplicate_poller_for: str = "15m"
    # Share of API requests answered 429 within the window.
    rate_limited_window: str = "15m"
    rate_limited_ratio: float = 0.2
    rate_limited_for: str = "15m"
    # 401/403 answers in every window of this length, for `unauthorized_for`.
    unauthorized_window: str = "5m"
    unauthorized_for: str = "10m"
    # Out of credits: any OUT_OF_CREDITS failure or 402 answer within the window pages at once (runs
    # are not processed at all until credits are added, so there is nothing to wait for).
    out_of_credits_window: str = "10m"
    out_of_credits_for: str = "1m"

    # Where alert notifications link to (the runbook_url annotation, plus "#<alert name in lower case>"):
    # the repository's docs/runbook.md as your users can open it, e.g. on your Git host.
    runbook_base_url: str = "docs/runbook.md"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str) and not f.name.endswith("_url"):
                seconds(value)  # raises on a malformed duration

    def with_overrides(self, overrides: dict[str, str]) -> Knobs:
        """A copy with `NAME=VALUE` overrides (from the command line) converted to each field's type."""
        known = {f.name for f in fields(self)}
        values: dict[str, Any] = {}
        for name, raw in overrides.items():
            if name not in known:
                raise ValueError(f"unknown knob {name!r}; known: {', '.join(sorted(known))}")
            values[name] = type(getattr(self, name))(raw)
        return replace(self, **values)


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str
    severity: Severity
    summary: str
    description: str
    runbook: str
    #: How far back the expression reads, for Grafana's query time range.
    lookback: str
    #: Dashboard and panel title that shows the signal (linked from the Grafana alert).
    dashboard_uid: str
    panel_title: str
    #: Window over which the description names the kind's top failure reason (None: it does not).
    top_reason_window: str | None = None

    def annotations(self, value: str, runbook_base_url: str, *, grafana: bool = False) -> dict[str, str]:
        description = self.description.replace(VALUE, value)
        if self.top_reason_window is not None:
            description += " " + (
                f"See the {FAILURE_REASONS_PANEL!r} panel for the failure reasons."
                if grafana  # Grafana's annotation templates have no `query` function
                else top_reason(self.top_reason_window)
            )
        return {
            "summary": self.summary.replace(VALUE, value),
            "description": description,
            "runbook": self.runbook,
            "runbook_url": f"{runbook_base_url}#{self.name.lower()}",
        }


FAILURE_REASONS_PANEL = "Failed runs per minute by failure reason"


def top_reason(window: str) -> str:
    """Prometheus annotation template naming the alerting kind's most frequent failureReason."""
    # Per workspace like the alerts: the max across the exporters that poll it, never their sum.
    query = (
        "topk(1, max by (failure_reason) (increase(extend_runs_failed_total"
        f"{{job=%q, kind=%q}}[{window}]) and on (job, instance) "
        "extend_exporter_build_info{job=%q, workspace=%q}) > 0)"
    )
    return (
        f'{{{{ range printf "{query}" $labels.job $labels.kind $labels.job $labels.workspace | query }}}}'
        f"Top failure reason: {{{{ .Labels.failure_reason }}}} ({{{{ .Value | humanize }}}} in {window})."
        "{{ else }}No failure reason reported for this kind.{{ end }}"
    )


RUNS_DASHBOARD_UID = "extend-runs-overview"
HEALTH_DASHBOARD_UID = "extend-exporter-health"

_RUN_LABELS = "status, source, processor_type"


def alerts(k: Knobs) -> list[Alert]:
    """All alerts, in the order they appear in both rule files."""
    spike_w = k.failed_spike_window
    ratio_w = k.failure_ratio_window
    # A sync that was stale for longer than the spike window and then caught up counts more than one
    # window's worth of FAILED runs at once. The guard looks back a little further than the window so
    # the catch-up step and the stale samples before it are always seen together. A timestamp of 0 (no
    # sync yet since the exporter started) is not staleness: a fresh start counts nothing old.
    guard_w = duration(seconds(spike_w) + 300)
    return [
        Alert(
            name="ExtendRunsFailedSpike",
            expr=per_workspace(
                f"""\
(
  sum without ({_RUN_LABELS}) (
    increase(extend_runs_finished_total{{status="FAILED"}}[{spike_w}])
  ) >= {k.failed_spike_min_count}
)
unless on (job, instance, kind)
(
  max_over_time((time() - (extend_last_successful_sync_timestamp_seconds > 0))[{guard_w}:1m])
  > {seconds(spike_w)}
)""",
                "kind",
            ),
            for_=k.failed_spike_for,
            severity="critical",
            summary=f"{{{{ {VALUE} | humanize }}}} {{{{ $labels.kind }}}} runs FAILED in {spike_w}",
            description=(
                f"Extend reported {{{{ {VALUE} | humanize }}}} {{{{ $labels.kind }}}} runs entering FAILED "
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
        ),
        Alert(
            name="ExtendRunsFailureRatioHigh",
            expr=per_workspace(
                f"""\
(
  sum without ({_RUN_LABELS}) (rate(extend_runs_finished_total{{status="FAILED"}}[{ratio_w}]))
  /
  sum without ({_RUN_LABELS}) (rate(extend_runs_finished_total[{ratio_w}]))
) > {k.failure_ratio_threshold}
and
sum without ({_RUN_LABELS}) (increase(extend_runs_finished_total[{ratio_w}]))
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
        ),
        Alert(
            name="ExtendReviewBacklogTooOld",
            expr=per_workspace(
                f"""\
extend_runs_oldest_active_age_seconds{{status="NEEDS_REVIEW"}} > {seconds(k.review_backlog_max_age)}
and on (job, instance, kind)
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
        ),
        Alert(
            name="ExtendRunsStuckProcessing",
            expr=per_workspace(
                f"""\
extend_runs_oldest_active_age_seconds{{status="PROCESSING"}} > {seconds(k.stuck_processing_max_age)}
and on (job, instance, kind)
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
        ),
        Alert(
            name="ExtendSyncFailing",
            expr=per_workspace("extend_up == 0", "kind"),
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
        ),
        Alert(
            name="ExtendSyncStale",
            expr=per_workspace(
                f"""\
time() - extend_last_successful_sync_timestamp_seconds > {seconds(k.sync_stale_after)}
and on (job, instance)
time() - process_start_time_seconds > {seconds(k.sync_stale_after)}
unless on (job, instance, kind)
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
        ),
        Alert(
            name="ExtendSyncFallingBehind",
            expr=per_workspace(
                f"""\
extend_sync_interval_seconds
> on (job, instance) group_left ()
({k.sync_behind_ratio} * extend_sync_configured_interval_seconds)""",
                "kind",
            ),
            for_=k.sync_behind_for,
            severity="warning",
            summary="Syncs of {{ $labels.kind }} run " + f"{{{{ {VALUE} | humanizeDuration }}}} apart",
            description=(
                "An exporter of workspace {{ $labels.workspace }} starts syncs of {{ $labels.kind }} "
                f"{{{{ {VALUE} | humanizeDuration }}}} apart, more than {k.sync_behind_ratio} times its "
                "configured interval: counts and alerts arrive late."
            ),
            runbook=(
                "Compare rate(extend_exporter_request_budget_wait_seconds_total[5m]) and the API request "
                "rate with extend_exporter_request_budget_requests_per_second: a saturated budget paces the "
                "syncs. Raise EXTEND_EXPORTER_MAX_REQUESTS_PER_SECOND (within the organisation's quota), "
                "raise EXTEND_EXPORTER_POLL_INTERVAL_SECONDS, or drop kinds you do not need (README: "
                "request budget per workload). Slow API answers show in the request duration panel."
            ),
            lookback="5m",
            dashboard_uid=HEALTH_DASHBOARD_UID,
            panel_title="Time since last successful sync",
        ),
        Alert(
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
        ),
        Alert(
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
        ),
        Alert(
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
        ),
        Alert(
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
                "Run one exporter per workspace. A sidecar on a workload with more than one replica, or a "
                "second deployment with the same key, polls twice: scale the sidecar's workload to one "
                "replica or move to the standalone deployment. Dashboards and alerts take the max across "
                "the duplicates, so no count is doubled meanwhile."
            ),
            lookback="5m",
            dashboard_uid=HEALTH_DASHBOARD_UID,
            panel_title="Exporters per workspace",
        ),
        Alert(
            name="ExtendApiRateLimited",
            expr=per_workspace(
                f"""\
sum without (endpoint, code) (rate(extend_api_requests_total{{code="429"}}[{k.rate_limited_window}]))
/
sum without (endpoint, code) (rate(extend_api_requests_total[{k.rate_limited_window}]))
> {k.rate_limited_ratio}""",
            ),
            for_=k.rate_limited_for,
            severity="warning",
            summary=f"{{{{ {VALUE} | humanizePercentage }}}} of Extend API requests are rate limited",
            description=(
                f"{{{{ {VALUE} | humanizePercentage }}}} of the Extend API requests for workspace "
                f"{{{{ $labels.workspace }}}} got 429 over the last {k.rate_limited_window} (threshold "
                f"{k.rate_limited_ratio:.0%}); syncs fall behind."
            ),
            runbook=(
                "The organisation's API quota (QPS, shared by every client of the key's organisation) is "
                "exhausted. Lower EXTEND_EXPORTER_MAX_REQUESTS_PER_SECOND or raise "
                "EXTEND_EXPORTER_POLL_INTERVAL_SECONDS, drop kinds you do not need (EXTEND_EXPORTER_KINDS), "
                "or find the other client using the quota."
            ),
            lookback=k.rate_limited_window,
            dashboard_uid=HEALTH_DASHBOARD_UID,
            panel_title="API request rate vs quota",
        ),
        Alert(
            name="ExtendApiUnauthorized",
            expr=per_workspace(
                f"""\
sum without (endpoint, code) (increase(extend_api_requests_total{{code=~"401|403"}}[{k.unauthorized_window}]))
> 0""",
            ),
            for_=k.unauthorized_for,
            severity="critical",
            summary="Extend API rejects the exporter's API key",
            description=(
                "The exporter of workspace {{ $labels.workspace }} keeps getting 401/403 from the Extend API "
                f"(for at least {k.unauthorized_for}): the API key is invalid, revoked or not allowed in "
                "the workspace."
            ),
            runbook=(
                "Create a new API key in the Extend dashboard (Developer settings) and update the secret "
                "behind EXTEND_API_KEY or EXTEND_API_KEY_FILE (the file is re-read when it changes). An "
                "organisation key also needs EXTEND_WORKSPACE_ID. Other integrations using the same key "
                "are probably failing too."
            ),
            lookback=k.unauthorized_window,
            dashboard_uid=HEALTH_DASHBOARD_UID,
            panel_title="API requests by endpoint and code",
        ),
        Alert(
            name="ExtendOutOfCredits",
            # The sync-error series start at 0, so even the first 402 shows as an increase; the request
            # counter catches 402s on endpoints whose sync later succeeded on a retry of another kind.
            expr=per_workspace(
                f"""\
sum without (kind, failure_reason) (
  increase(extend_runs_failed_total{{failure_reason="OUT_OF_CREDITS"}}[{k.out_of_credits_window}])
) > 0
or
sum without (kind, reason) (
  increase(extend_sync_errors_total{{reason="payment_required"}}[{k.out_of_credits_window}])
) > 0
or
sum without (endpoint, code) (increase(extend_api_requests_total{{code="402"}}[{k.out_of_credits_window}]))
> 0""",
            ),
            for_=k.out_of_credits_for,
            severity="critical",
            summary="Extend account is out of credits",
            description=(
                "Within the last "
                f"{k.out_of_credits_window}, runs FAILED with OUT_OF_CREDITS or the Extend API answered 402 "
                "Payment Required in workspace {{ $labels.workspace }} (job {{ $labels.job }}): Extend stops "
                "processing documents until credits are added."
            ),
            runbook=(
                "Add credits or lift the usage block in the Extend dashboard (Billing), or ask the account "
                "owner to. Runs that failed with OUT_OF_CREDITS are not retried by Extend: resubmit them "
                "once credits are back (list them in the Extend dashboard, status FAILED). The exporter's "
                "own syncs resume by themselves."
            ),
            lookback=k.out_of_credits_window,
            dashboard_uid=RUNS_DASHBOARD_UID,
            panel_title=FAILURE_REASONS_PANEL,
        ),
    ]


# --- Prometheus rule file ------------------------------------------------------------------------------


def prometheus_rules(k: Knobs) -> dict[str, Any]:
    """A plain Prometheus rule file (`groups:`), also the spec of a Kubernetes PrometheusRule."""
    return {
        "groups": [
            {
                "name": GROUP_NAME,
                "rules": [
                    {
                        "alert": a.name,
                        "expr": a.expr,
                        "for": a.for_,
                        "labels": {"severity": a.severity},
                        "annotations": a.annotations("$value", k.runbook_base_url),
                    }
                    for a in alerts(k)
                ],
            }
        ]
    }


# --- Grafana-managed alert rules ------------------------------------------------------------------------

# Grafana provisioning keys the rule's API model carries but a provisioning file's group sets instead.
_GROUP_LEVEL_KEYS = ("folderUID", "orgID", "ruleGroup")


def _grafana_rule(a: Alert, panel_ids: dict[tuple[str, str], int], runbook_base_url: str) -> dict[str, Any]:
    ds = dm.DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
    query = (
        alerting.Query("A")
        .datasource_uid(DATASOURCE_UID)
        .relative_time_range(am.RelativeTimeRange(from_val=seconds(a.lookback), to=0))
        .model(prometheus.Dataquery().ref_id("A").expr(a.expr).instant().datasource(ds))
    )
    # The PromQL already applies the threshold and returns only breaching series; every series it
    # returns is a firing instance, and an empty result is normal (noDataState OK).
    condition = (
        alerting.Query("B")
        .datasource_uid("__expr__")
        .model(
            expr.TypeMath()
            .ref_id("B")
            .expression("is_number($A)")
            .datasource(dm.DataSourceRef(type_val="__expr__", uid="__expr__"))
        )
    )
    annotations = a.annotations("$values.A.Value", runbook_base_url, grafana=True)
    annotations["__dashboardUid__"] = a.dashboard_uid
    annotations["__panelId__"] = str(panel_ids[(a.dashboard_uid, a.panel_title)])
    rule = (
        alerting.Rule(a.name)
        .uid(_grafana_uid(a.name))
        .condition("B")
        .queries([query, condition])
        .for_val(a.for_)
        .no_data_state("OK")
        .exec_err_state("Error")
        .labels({"severity": a.severity})
        .annotations(annotations)
        .is_paused(False)
    )
    payload: dict[str, Any] = json.loads(json.dumps(rule.build(), cls=JSONEncoder))
    for key in _GROUP_LEVEL_KEYS:
        payload.pop(key, None)
    # Grafana expands environment variables ($NAME) in a provisioned rule's query models and labels, not
    # in its annotations; `$$` is its escape for a literal `$` (the `$A` of the math expression).
    for item in payload["data"]:
        item["model"] = _escape_dollars(item["model"])
    return payload


def _escape_dollars(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {key: _escape_dollars(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_escape_dollars(item) for item in value]
    return value


def _grafana_uid(name: str) -> str:
    uid = re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()
    if len(uid) > 40:
        raise ValueError(f"Grafana rule UIDs are at most 40 characters: {uid}")
    return uid


def grafana_alert_rules(k: Knobs, panel_ids: dict[tuple[str, str], int]) -> dict[str, Any]:
    """A Grafana alerting provisioning file (`apiVersion: 1`, `groups:`) with the same alerts."""
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": GROUP_NAME,
                "folder": GRAFANA_FOLDER,
                "interval": "1m",
                "rules": [_grafana_rule(a, panel_ids, k.runbook_base_url) for a in alerts(k)],
            }
        ],
    }


# --- runbook ---------------------------------------------------------------------------------------------

RUNBOOK_INTRO = """\
# extend-exporter runbook

One section per alert of `deploy/prometheus/extend-alerts.yaml` (the same alerts as the Grafana-managed
rules); each alert's `runbook_url` annotation links to its section. Generated from `grafana/alerts.py`
by `make dashboards`: edit the alert there, not this file.

Labels: run and sync alerts carry `job`, `workspace` (the workspace ID, or `key-<12 hex>`, a fingerprint
of the API key) and, where it applies, `kind`; two exporters of one workspace page once. To silence a
workspace or a job on purpose, add an Alertmanager silence on those labels.

Stopping an exporter on purpose: scale its StatefulSet (or the sidecar's workload) to zero, or remove its
scrape job. A job without targets raises no `ExtendExporterDown`; `ExtendExporterAbsent` fires only when
no exporter at all was scraped within the look-back. An exporter stopped while its target stays in the
scrape configuration (a static target) is an outage to the rules: remove the target, or silence
`ExtendExporterDown` for its `job` and `workspace`.
"""


def runbook(k: Knobs) -> str:
    """docs/runbook.md: one section per alert, in rule order."""
    parts = [RUNBOOK_INTRO]
    for a in alerts(k):
        parts.append(
            f"""
## {a.name}

- Severity: `{a.severity}`; fires after the condition holds for `{a.for_}`.
- Summary: {a.summary.replace(VALUE, "$value")}
- What it means: {a.description.replace(VALUE, "$value")}

What to do: {a.runbook}

```promql
{a.expr}
```
"""
        )
    return "".join(parts)
