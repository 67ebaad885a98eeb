"""Every PromQL expression the project ships, read back from the generated files, and what it references."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import promql_parser
import yaml

REPO = Path(__file__).resolve().parent.parent.parent
DASHBOARDS = sorted((REPO / "grafana" / "dashboards").glob("*.json"))
PROMETHEUS_RULES = REPO / "deploy" / "prometheus" / "extend-alerts.yaml"
PROMETHEUS_RULE_TESTS = REPO / "deploy" / "prometheus" / "tests" / "extend-alerts.test.yaml"
GRAFANA_RULES = REPO / "grafana" / "provisioning" / "alerting" / "extend-alerts.yaml"

#: Labels Prometheus attaches to every scraped series (the dashboards filter on them).
TARGET_LABELS = frozenset({"job", "instance"})
#: Series Prometheus makes itself for every target (not in an exporter's /metrics).
SYNTHETIC_METRICS = frozenset({"up"})
#: Labels Prometheus's service discovery may add that the alerts keep for routing.
ROUTING_LABELS = frozenset({"namespace"})

_LABEL_VALUES = re.compile(r"^label_values\((?:(?P<selector>.+),\s*)?(?P<label>\w+)\)$", re.DOTALL)


@dataclass(frozen=True)
class Expr:
    where: str
    text: str


def load_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def load_yaml(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries(path: Path) -> list[Expr]:
    dashboard = load_json(path)
    return [
        Expr(f"{path.name}: {panel['title']} [{target['refId']}]", target["expr"])
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]


def variable_queries(path: Path) -> list[tuple[str, str, str | None, str]]:
    """(where, variable name, metric selector or None, label) of every label_values() variable."""
    out = []
    for variable in load_json(path)["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = _LABEL_VALUES.match(variable["query"])
        assert match, f"{path.name}: ${variable['name']} is not a label_values() query: {variable['query']}"
        out.append((f"{path.name}: ${variable['name']}", variable["name"], match["selector"], match["label"]))
    return out


def prometheus_alert_exprs() -> list[Expr]:
    rules = load_yaml(PROMETHEUS_RULES)
    return [
        Expr(f"{PROMETHEUS_RULES.relative_to(REPO)}: {rule['alert']}", rule["expr"])
        for group in rules["groups"]
        for rule in group["rules"]
    ]


def grafana_alert_exprs() -> list[Expr]:
    """The PromQL of each Grafana-managed rule, after Grafana's `$$` -> `$` unescaping."""
    rules = load_yaml(GRAFANA_RULES)
    out = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            for query in rule["data"]:
                if query["datasourceUid"] != "__expr__":
                    text = query["model"]["expr"].replace("$$", "$")
                    out.append(Expr(f"{GRAFANA_RULES.relative_to(REPO)}: {rule['title']}", text))
    return out


#: Values the dashboards' template variables take in the tests (every multi-value variable: All).
VARIABLES = {
    "$__rate_interval": "20s",
    "$__range": "5m",
    "$qps_quota": "10",
    "$processor_type": ".*",
    "$instance": ".*",
    "$workspace": ".*",
    "$source": ".*",
    "$kind": ".*",
    "$job": ".*",
}


def substitute(text: str) -> str:
    for name, value in VARIABLES.items():  # no name is a prefix of another
        text = text.replace(name, value)
    assert "$" not in text, f"unresolved dashboard variable in {text}"
    return text


def all_exprs() -> list[Expr]:
    """Every dashboard query (variables substituted) and both alert files' expressions."""
    exprs = [Expr(e.where, substitute(e.text)) for path in DASHBOARDS for e in dashboard_queries(path)]
    for path in DASHBOARDS:
        for where, _name, selector, _label in variable_queries(path):
            if selector:
                exprs.append(Expr(where, substitute(selector)))
    return exprs + prometheus_alert_exprs() + grafana_alert_exprs()


@dataclass
class References:
    #: metric name -> label names matched on it
    selectors: dict[str, set[str]] = field(default_factory=dict)
    #: metric name -> {label: values} of equality matchers
    values: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    #: labels named in by/without/on/ignoring/group_left/group_right
    grouping: set[str] = field(default_factory=set)


def references(text: str) -> References:
    """Metric names and label names an expression reads; raises on a parse error."""
    refs = References()

    def visit(node: promql_parser.Expr) -> bool:
        selector: promql_parser.VectorSelector | None = None
        if isinstance(node, promql_parser.VectorSelector):
            selector = node
        elif isinstance(node, promql_parser.MatrixSelector):
            selector = node.vector_selector
        if selector is not None:
            assert selector.name, f"selector without a metric name in {text}"
            labels = refs.selectors.setdefault(selector.name, set())
            for matcher in selector.matchers.matchers:
                labels.add(matcher.name)
                if matcher.op == promql_parser.MatchOp.Equal:
                    refs.values.setdefault(selector.name, {}).setdefault(matcher.name, set()).add(
                        matcher.value
                    )
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            refs.grouping.update(node.modifier.labels)
        elif isinstance(node, promql_parser.BinaryExpr) and node.modifier is not None:
            if node.modifier.matching is not None:
                refs.grouping.update(node.modifier.matching.labels)
            refs.grouping.update(node.modifier.group_labels or [])
        return True

    promql_parser.walk(promql_parser.parse(text), visit)
    return refs
