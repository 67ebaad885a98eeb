"""All alerts in rule-file order, rendered as the Prometheus rule file and as docs/runbook.md.

The alerts themselves are defined in `grafana/rules/` (one module per group, one function per alert),
their thresholds in `grafana/knobs.py`; `grafana/managed_rules.py` renders the Grafana-managed copy.
"""

from __future__ import annotations

from typing import Any

from .knobs import Knobs
from .names import GROUP_NAME
from .rules import VALUE, Alert, api, batches, exporters, runs, syncs, webhooks

#: The alert groups, in rule-file order; a new group is one more entry here.
GROUPS = (runs.alerts, syncs.alerts, exporters.alerts, api.alerts, webhooks.alerts, batches.alerts)


def alerts(k: Knobs) -> list[Alert]:
    """All alerts, in the order they appear in both rule files."""
    return [alert for group in GROUPS for alert in group(k)]


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


RUNBOOK_INTRO = """\
# extend-exporter runbook

One section per alert of `deploy/prometheus/extend-alerts.yaml` (the same alerts as the Grafana-managed
rules); each alert's `runbook_url` annotation links to its section. Generated from `grafana/rules/`
by `make dashboards`: edit the alert there, not this file.

Labels: run and sync alerts carry `job`, `workspace` (the workspace ID, or `key-<12 hex>`, a fingerprint
of the API key) and, where it applies, `kind`; two exporters of one workspace page once. To silence a
workspace or a job on purpose, add an Alertmanager silence on those labels.

Several workspaces per exporter (an organisation key, `EXTEND_WORKSPACE_ID` a list): every alert on run,
sync or request metrics is per workspace, so a workspace that loses access pages for itself only.
Taking a workspace out of the list on purpose makes `ExtendExporterDown` fire for that `job` and
`workspace` until the look-back (`exporter_down_lookback`, 1d) has passed: silence it for that long.

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
