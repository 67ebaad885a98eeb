"""The house style both dashboards share: variables, graph and stat panels, rows, the dashboard frame.

Every query filters on `$job` and `$instance` (populated from `extend_exporter_build_info`, so any job
name works), and every series of a workspace (run, sync and API request series carry `workspace`) on
`$workspace` too; queries read through the `$datasource` variable; counters are read with
`rate()`/`increase()` so an exporter restart (a counter reset) shows as neither a dip nor a spike.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

DS = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
TAG = "extend-exporter"

# Label matchers shared by the queries. `.*` is every variable's "All" value, so it also matches the
# empty `source`/`processor_type` of kinds that have none.
TARGET = 'job=~"$job", instance=~"$instance"'
# The series of the chosen workspaces: an exporter may poll several.
WORKSPACE = TARGET + ', workspace=~"$workspace"'
KIND = WORKSPACE + ', kind=~"$kind"'
RUNS = KIND + ', source=~"$source", processor_type=~"$processor_type"'
DURATION = KIND + ', processor_type=~"$processor_type"'

#: The range of rate() in graphs: Grafana's $__rate_interval fits the scrape interval and the zoom.
RI = "[$__rate_interval]"


@dataclass(frozen=True)
class Query:
    """One PromQL query of a panel and its legend (Grafana's `__auto` when empty)."""

    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Generated:
    """A dashboard as Grafana's JSON model, with its panel ids by title."""

    uid: str
    model: dict[str, Any]
    #: Panel title to panel id, for links from alert rules.
    panel_ids: dict[str, int]


def _all_option() -> dm.VariableOption:
    return dm.VariableOption(selected=True, text="All", value="$__all")


def label_variable(name: str, label: str, query: str, *, all_value: str | None = ".*") -> db.QueryVariable:
    variable = (
        db.QueryVariable(name)
        .label(label)
        .datasource(DS)
        .query(query)
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .current(_all_option())
    )
    return variable.all_value(all_value) if all_value is not None else variable


def common_variables() -> list[Builder[dm.VariableModel]]:
    """The variables of both dashboards: data source, job, workspace, instance and run kind."""
    return [
        db.DatasourceVariable("datasource").label("Data source").type("prometheus"),
        label_variable("job", "Job", "label_values(extend_exporter_build_info, job)"),
        label_variable(
            "workspace",
            "Workspace",
            'label_values(extend_exporter_build_info{job=~"$job"}, workspace)',
        ),
        label_variable(
            "instance",
            "Instance",
            'label_values(extend_exporter_build_info{job=~"$job", workspace=~"$workspace"}, instance)',
            # "All" is the list of the chosen workspaces' exporters, so per-exporter panels follow $workspace.
            all_value=None,
        ),
        label_variable("kind", "Run kind", f"label_values(extend_up{{{TARGET}}}, kind)"),
    ]


def targets(
    queries: Sequence[Query], *, instant: bool = False, table_format: bool = False, exemplars: bool = False
) -> list[Any]:
    """Prometheus queries with ref ids A, B, ... in order; `exemplars` also fetches the example runs
    of the queried series (docs/exemplars.md)."""
    out: list[Any] = []
    for i, q in enumerate(queries):
        target = (
            prometheus.Dataquery().ref_id(chr(ord("A") + i)).expr(q.expr).legend_format(q.legend or "__auto")
        )
        target = target.instant() if instant else target.range()
        if exemplars:
            target = target.exemplar(True)
        if table_format:
            target = target.format(pm.PromQueryFormat.TABLE)
        out.append(target)
    return out


def _thresholds(value: float | None, color: str = "red") -> db.ThresholdsConfig:
    steps = [dm.Threshold(value=None, color="green")]
    if value is not None:
        steps.append(dm.Threshold(value=value, color=color))
    return db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(steps)


def _legend() -> cb.VizLegendOptions:
    return (
        cb.VizLegendOptions()
        .display_mode(cm.LegendDisplayMode.TABLE)
        .placement(cm.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(["lastNotNull", "max"])
    )


def graph(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    unit: str = "short",
    threshold: float | None = None,
    stacked: bool = False,
    log_scale: bool = False,
    width: int = 12,
    height: int = 8,
    exemplars: bool = False,
) -> timeseries.Panel:
    """A time series panel, half a row wide unless `width`; `threshold` draws a dashed line there;
    `exemplars` shows the example runs of its series as points that open the run.

    `log_scale` for ages: one run weeks old beside others minutes old would flatten every other line on a
    linear axis. Values of 0 (none in that status) are then not drawn."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .targets(targets(queries, exemplars=exemplars))
        .unit(unit)
        .min(1 if log_scale else 0)
        .span(width)
        .height(height)
        .legend(_legend())
        .tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.DESCENDING))
        .fill_opacity(10)
        .thresholds(_thresholds(threshold))
        .thresholds_style(
            cb.GraphThresholdsStyleConfig().mode(
                cm.GraphThresholdsStyleMode.DASHED
                if threshold is not None
                else cm.GraphThresholdsStyleMode.OFF
            )
        )
    )
    if stacked:
        panel = panel.stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL))
    if log_scale:
        panel = panel.scale_distribution(cb.ScaleDistributionConfig().type(cm.ScaleDistribution.LOG).log(10))
    return panel


def single(
    title: str, description: str, query: Query, *, unit: str = "short", threshold: float | None = None
) -> stat.Panel:
    """A stat panel of one instant value, a sixth of a row wide; it turns red above `threshold`."""
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .targets(targets([query], instant=True))
        .unit(unit)
        .span(4)
        .height(4)
        .graph_mode(cm.BigValueGraphMode.NONE)
        .color_mode(cm.BigValueColorMode.VALUE)
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(_thresholds(threshold))
    )


def finalize(dashboard: db.Dashboard) -> Generated:
    """The built model with panels numbered 1, 2, ... in order; panel titles must be unique (alert rules
    link to a panel by its title)."""
    model: dict[str, Any] = json.loads(json.dumps(dashboard.build(), cls=JSONEncoder))
    panel_ids: dict[str, int] = {}
    for number, panel in enumerate(model["panels"], start=1):
        panel["id"] = number
        if panel["type"] != "row":
            if panel["title"] in panel_ids:
                raise ValueError(f"duplicate panel title {panel['title']!r} in {model['uid']}")
            panel_ids[panel["title"]] = number
    return Generated(uid=model["uid"], model=model, panel_ids=panel_ids)


def _links(title: str) -> list[Builder[dm.DashboardLink]]:
    return [
        db.DashboardLink(title)
        .type(dm.DashboardLinkType.DASHBOARDS)
        .tags([TAG])
        .as_dropdown(True)
        .include_vars(True)
        .keep_time(True)
    ]


def base(uid: str, title: str, description: str) -> db.Dashboard:
    """A dashboard with the settings both share: tags, links to each other, time range, refresh."""
    return (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG, "extend"])
        .editable()
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("browser")
        .links(_links("Extend dashboards"))
    )


@dataclass(frozen=True)
class Row:
    """A titled row of panels, laid out left to right in the order given."""

    title: str
    panels: Sequence[Builder[dm.Panel]]


def with_rows(dashboard: db.Dashboard, rows: Iterable[Row]) -> db.Dashboard:
    """`dashboard` with each row and its panels appended in order."""
    for row in rows:
        dashboard = dashboard.with_row(db.Row(row.title))
        for panel in row.panels:
            dashboard = dashboard.with_panel(panel)
    return dashboard
