"""The alerts, one module per group (runs, syncs, exporters, api), one function per alert, and their shape.

Each group module's `alerts(k)` lists its alerts in rule-file order; `grafana/alerts.py` joins the groups
and renders them. Run and sync alerts are computed per exporter and reduced by
`promql.per_workspace_alert()`; liveness alerts key on job and workspace, never on a pod address, so a
rollout or a reschedule (a new pod, a new address) is not an outage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..names import FAILURE_REASONS_PANEL

#: Sentinel in annotation templates for the alert's value; Prometheus and Grafana spell it differently.
VALUE = "@VALUE"
#: A number of runs as a whole number: increase() extrapolates to the window's edges (8.205, not 8).
WHOLE = '| printf "%.0f"'

Severity = Literal["critical", "warning"]


@dataclass(frozen=True)
class Alert:
    """One alert, in the terms both rule files and the runbook are rendered from."""

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


def top_reason(window: str) -> str:
    """Prometheus annotation template naming the alerting kind's most frequent failureReason."""
    # Per workspace like the alerts: the max across the exporters that poll it, never their sum.
    query = (
        "topk(1, max by (failure_reason) (increase(extend_runs_failed_total"
        f"{{job=%q, workspace=%q, kind=%q}}[{window}])) > 0)"
    )
    return (
        f'{{{{ range printf "{query}" $labels.job $labels.workspace $labels.kind | query }}}}'
        f"Top failure reason: {{{{ .Labels.failure_reason }}}} ({{{{ .Value {WHOLE} }}}} in {window})."
        "{{ else }}No failure reason reported for this kind.{{ end }}"
    )
