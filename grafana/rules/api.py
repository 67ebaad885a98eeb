"""Alerts on the Extend API and the account: rate limiting, a rejected key, credits run out."""

from __future__ import annotations

from ..knobs import Knobs
from ..names import FAILURE_REASONS_PANEL, HEALTH_DASHBOARD_UID, RUNS_DASHBOARD_UID
from ..promql import per_workspace_alert
from . import VALUE, Alert


def alerts(k: Knobs) -> list[Alert]:
    """The API alerts, in rule-file order."""
    return [api_rate_limited(k), api_unauthorized(k), out_of_credits(k)]


def api_rate_limited(k: Knobs) -> Alert:
    """Many API requests are answered 429: the organisation's quota is exhausted."""
    return Alert(
        name="ExtendApiRateLimited",
        expr=per_workspace_alert(
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
    )


def api_unauthorized(k: Knobs) -> Alert:
    """The API keeps answering 401/403: the key is invalid, revoked or lacks the workspace."""
    return Alert(
        name="ExtendApiUnauthorized",
        expr=per_workspace_alert(
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
            "are probably failing too. When an exporter of several workspaces pages for one of them "
            "only, the key lost access to that workspace or it was deleted: restore the access, or "
            "remove the ID from EXTEND_WORKSPACE_ID (its counts stay in the state file)."
        ),
        lookback=k.unauthorized_window,
        dashboard_uid=HEALTH_DASHBOARD_UID,
        panel_title="API requests by endpoint and code",
    )


def out_of_credits(k: Knobs) -> Alert:
    """Runs fail with OUT_OF_CREDITS or the API answers 402: Extend stops processing."""
    return Alert(
        name="ExtendOutOfCredits",
        # The sync-error series start at 0, so even the first 402 shows as an increase; the request
        # counter catches 402s on endpoints whose sync later succeeded on a retry of another kind.
        expr=per_workspace_alert(
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
    )
