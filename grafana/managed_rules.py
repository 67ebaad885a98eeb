"""Grafana-managed alert rules: the alerts of `grafana/alerts.py` as a Grafana provisioning file.

Built with grafana-foundation-sdk's alerting builders; each rule queries the provisioned data source
(a provisioned rule cannot use a dashboard variable) and links to the dashboard panel of its signal.
"""

from __future__ import annotations

import json
import re
from typing import Any

from grafana_foundation_sdk.builders import alerting, expr, prometheus
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import alerting as am
from grafana_foundation_sdk.models import dashboard as dm

from .alerts import alerts
from .knobs import Knobs
from .names import DATASOURCE_UID, GRAFANA_FOLDER, GROUP_NAME
from .promql import seconds
from .rules import Alert

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
