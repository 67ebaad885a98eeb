"""Alerts on webhook deliveries: Extend stopped delivering while runs kept finishing.

Per exporter, not per workspace: one listener serves every workspace an exporter polls (a delivery does
not say which workspace it came from), so the listener's gauge carries no `workspace` label and its
silence is one alert per exporter, with the runs of all its workspaces as the evidence."""

from __future__ import annotations

from ..knobs import Knobs
from ..names import HEALTH_DASHBOARD_UID
from ..promql import seconds
from . import VALUE, Alert

#: The runs Extend sends an event for when they finish (verify runs have none; cancelled processor
#: runs neither): the ones whose finishing without a delivery means deliveries stopped.
ANNOUNCED_FINISHES = 'extend_runs_finished_total{kind!="verify_run", status=~"PROCESSED|FAILED"}'
LAST_ACCEPTED = "extend_webhook_last_accepted_timestamp_seconds"


def alerts(k: Knobs) -> list[Alert]:
    """The webhook alerts, in rule-file order."""
    return [webhooks_silent(k)]


def webhooks_silent(k: Knobs) -> Alert:
    """Webhooks are configured and runs finish, yet no delivery was accepted for a while."""
    window = k.webhook_silent_after
    return Alert(
        name="ExtendWebhooksSilent",
        expr=f"""\
max by (namespace, job, instance) (
  time() - {LAST_ACCEPTED} > {seconds(window)}
  and on (job, instance)
  sum by (job, instance) (increase({ANNOUNCED_FINISHES}[{window}])) >= {k.webhook_silent_min_runs}
)""",
        for_=k.webhook_silent_for,
        severity="warning",
        summary=f"No Extend webhook accepted for {{{{ {VALUE} | humanizeDuration }}}}",
        description=(
            "The exporter {{ $labels.instance }} (job {{ $labels.job }}) has its webhook listener on and its "
            f"syncs saw at least {k.webhook_silent_min_runs} runs finish in the last {window} (in all its "
            "workspaces together), but it accepted no webhook delivery for "
            f"{{{{ {VALUE} | humanizeDuration }}}}: failures reach /metrics only at the next poll."
        ),
        runbook=(
            "Counts stay exact (the poller counts); only latency suffers. Look at "
            "extend_webhook_events_total by outcome: nothing at all means deliveries do not arrive (the "
            "endpoint is disabled or deleted in Extend's dashboard, its URL or the Ingress/NetworkPolicy "
            "route is wrong, TLS fails); bad_signature means the secret differs from the endpoint's "
            "signing secret (rotate with a comma list, docs/webhooks.md); stale means this host's clock "
            "is off. Check the endpoint's enabledEvents include the run events (processed and failed) "
            "of the kinds watched."
        ),
        lookback=window,
        dashboard_uid=HEALTH_DASHBOARD_UID,
        panel_title="Time since the last accepted webhook",
    )
