"""PromQL pieces the alert rules and the dashboards share: durations, run labels, the per-workspace max.

Every run and sync series carries the `workspace` it counts (an exporter may poll several workspaces
of one organisation), and two exporters of one workspace (a sidecar on a 2-replica app) count the
same runs. So every rule and panel on run or sync metrics reduces the per-exporter series to one per
workspace, the max across its exporters, and sums only across workspaces: a duplicate exporter never
doubles a number or a page, and two workspaces are never mixed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

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


# Every label of each run metric besides job/instance: a per-workspace max must keep them all apart,
# or distinct series of one exporter would be merged.
RUN_LABELS = ("kind", "status", "source", "processor_type")
CREATED_LABELS = ("kind", "source", "processor_type")
DURATION_LABELS = ("kind", "processor_type", "status", "le")
AGE_LABELS = ("kind", "status")
BY_RESOURCE_LABELS = ("kind", "resource_id", "status")
FAILED_REASON_LABELS = ("kind", "failure_reason")

#: Labels an alert keeps: the routing labels of the scrape (`namespace` where service discovery sets it).
ALERT_KEY = ("namespace", "job", "workspace")


def per_workspace_alert(expr: str, *by: str) -> str:
    """`expr`, evaluated per exporter and workspace (it carries `job`, `instance` and `workspace`),
    reduced to one series per job, workspace and `by` labels: the max across the exporters polling the
    same workspace, so a second exporter of a workspace pages once. Every alert on run or sync metrics
    goes through this; joins inside `expr` between series of one exporter match on `workspace` too."""
    labels = ", ".join((*ALERT_KEY, *by))
    body = "\n".join("  " + line for line in expr.splitlines())
    return f"max by ({labels}) (\n{body}\n)"


def per_workspace_panel(series: str, labels: Sequence[str]) -> str:
    """`series` (per exporter and workspace: a selector filtered by `$workspace`, or a rate()/increase()
    of one) as one series per workspace and `labels`, the max across the exporters polling that
    workspace. Every panel on run metrics reads through this; `labels` must be all the metric's own
    labels (the *_LABELS tuples above)."""
    return f"max by (workspace, {', '.join(labels)}) ({series})"
