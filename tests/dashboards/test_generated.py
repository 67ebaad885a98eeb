"""The committed dashboards, provisioning files and rule files are exactly what grafana/generate.py writes,
and they are wired the way a user's Grafana and Prometheus need."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from grafana.alerts import alerts
from grafana.generate import drift, main, render
from grafana.knobs import Knobs
from grafana.names import DATASOURCE_UID, FAILURE_REASONS_PANEL

from .promql import (
    DASHBOARDS,
    GRAFANA_RULES,
    REPO,
    dashboard_queries,
    grafana_alert_exprs,
    load_json,
    load_yaml,
    panels,
    prometheus_alert_exprs,
    variable_queries,
)


def test_committed_files_match_the_generator() -> None:
    files = render(Knobs())
    changed = drift(files, REPO)
    assert not changed, f"run `make dashboards`: generated files differ from the committed ones: {changed}"
    # Nothing generated is left behind outside the generator's list (e.g. a renamed dashboard).
    on_disk = {str(p.relative_to(REPO)) for p in (REPO / "grafana" / "dashboards").glob("*.json")}
    assert on_disk == {name for name in files if name.startswith("grafana/dashboards/")}


def test_check_mode_reports_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--check", "--out", str(tmp_path)]) == 0
    rules = tmp_path / "deploy" / "prometheus" / "extend-alerts.yaml"
    rules.write_text(rules.read_text().replace("severity: critical", "severity: info"))
    assert main(["--check", "--out", str(tmp_path)]) == 1
    assert "deploy/prometheus/extend-alerts.yaml" in capsys.readouterr().err


def test_knob_overrides_reach_both_alert_forms() -> None:
    files = render(Knobs().with_overrides({"failed_spike_min_count": "25", "failure_ratio_threshold": "0.3"}))
    for path in ("deploy/prometheus/extend-alerts.yaml", "grafana/provisioning/alerting/extend-alerts.yaml"):
        assert ">= 25" in files[path]
        assert "> 0.3" in files[path]
    with pytest.raises(ValueError, match="unknown knob"):
        Knobs().with_overrides({"no_such_knob": "1"})
    with pytest.raises(ValueError, match="simple duration"):
        Knobs(failed_spike_window="ten minutes")


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_wiring(path: Path) -> None:
    dashboard = load_json(path)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["job"]["query"] == "label_values(extend_exporter_build_info, job)"
    for name in ("job", "workspace", "kind"):
        assert variables[name]["includeAll"] and variables[name]["allValue"] == ".*", name
    # "All" instances = those of the chosen workspaces, so per-exporter panels follow $workspace too.
    assert variables["instance"]["includeAll"] and "allValue" not in variables["instance"]
    assert 'workspace=~"$workspace"' in variables["instance"]["query"]
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel.get("description"), f"{panel['title']}: every panel explains itself"
    for query in dashboard_queries(path):
        if query.text.startswith("vector("):
            continue
        # Every selector filters on the job and instance variables, so a dashboard works with any job name
        # and several exporters.
        for selector in re.findall(r"extend_\w+\{[^}]*\}|extend_\w+(?![\w{])", query.text):
            assert 'job=~"$job"' in selector and 'instance=~"$instance"' in selector, (query.where, selector)
    for where, name, selector, _label in variable_queries(path):
        if name != "job":
            assert selector and "$job" in selector, where


RUN_METRICS = re.compile(r"extend_runs?_\w+")


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_run_panels_count_each_workspace_once(path: Path) -> None:
    """Every query on a run metric reads it through per_workspace_panel(): the max across the exporters of a
    workspace (each series carries its workspace), filtered by $workspace, never a plain sum."""
    for query in dashboard_queries(path):
        for metric in set(RUN_METRICS.findall(query.text)) - {"extend_resource_info"}:
            assert query.text.count("max by (workspace, ") >= query.text.count(metric), (query.where, metric)
        for selector in re.findall(r"extend_runs?_\w+\{[^}]*\}", query.text):
            assert 'workspace=~"$workspace"' in selector, (query.where, selector)


def test_both_alert_forms_carry_the_same_rules() -> None:
    prom = {e.where.split(": ")[1]: e.text for e in prometheus_alert_exprs()}
    graf = {e.where.split(": ")[1]: e.text for e in grafana_alert_exprs()}
    assert prom == graf
    assert list(prom) == [a.name for a in alerts(Knobs())]
    rules = load_yaml(REPO / "deploy" / "prometheus" / "extend-alerts.yaml")
    for rule in rules["groups"][0]["rules"]:
        assert set(rule["annotations"]) == {"summary", "description", "runbook", "runbook_url"}, rule["alert"]
        assert rule["annotations"]["runbook_url"] == f"docs/runbook.md#{rule['alert'].lower()}"
        assert rule["labels"]["severity"] in {"critical", "warning"}
        assert rule["for"]


def test_grafana_provisioning_fits_together() -> None:
    datasources = load_yaml(REPO / "grafana" / "provisioning" / "datasources" / "extend-prometheus.yaml")
    assert [d["uid"] for d in datasources["datasources"]] == [DATASOURCE_UID]
    providers = load_yaml(REPO / "grafana" / "provisioning" / "dashboards" / "extend.yaml")
    assert providers["providers"][0]["type"] == "file"
    rules = load_yaml(GRAFANA_RULES)
    assert rules["apiVersion"] == 1
    dashboard_panels = {
        load_json(p)["uid"]: {str(panel["id"]) for panel in panels(load_json(p))} for p in DASHBOARDS
    }
    for rule in rules["groups"][0]["rules"]:
        prom, condition = rule["data"]
        assert prom["datasourceUid"] == DATASOURCE_UID
        assert prom["model"]["instant"] is True
        # Grafana expands $NAME in query models at provisioning time; `$$A` is the literal `$A`.
        assert condition["model"]["expression"] == "is_number($$A)"
        assert rule["condition"] == condition["refId"] == "B"
        assert rule["noDataState"] == "OK"
        assert "$" not in str(rule["labels"])
        assert rule["annotations"]["__panelId__"] in dashboard_panels[rule["annotations"]["__dashboardUid__"]]
        assert "$values.A.Value" in rule["annotations"]["summary"] + rule["annotations"]["description"] or (
            "$value" not in rule["annotations"]["summary"] + rule["annotations"]["description"]
        )
        assert len(rule["uid"]) <= 40


def test_every_runbook_url_opens_a_section_of_the_runbook() -> None:
    """docs/runbook.md has one section per alert, and each alert's runbook_url points at its own."""
    text = (REPO / "docs" / "runbook.md").read_text(encoding="utf-8")
    headings = [line[3:] for line in text.splitlines() if line.startswith("## ")]
    rules = load_yaml(REPO / "deploy" / "prometheus" / "extend-alerts.yaml")["groups"][0]["rules"]
    assert headings == [rule["alert"] for rule in rules]
    for rule in rules:
        path, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert (REPO / path).resolve() == (REPO / "docs" / "runbook.md").resolve()
        # GitHub-style anchors: the heading in lower case.
        assert anchor in {heading.lower() for heading in headings}, rule["alert"]
        assert rule["annotations"]["runbook"] in text


AGES = re.compile(r"extend_runs_oldest_active_age_seconds|extend_last_successful_sync_timestamp_seconds")


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_age_graphs_use_a_log_scale(path: Path) -> None:
    """One run weeks old must not flatten the other ages to a line along the axis."""
    graphs = [
        p
        for p in panels(load_json(path))
        if p["type"] == "timeseries" and any(AGES.search(t.get("expr", "")) for t in p["targets"])
    ]
    assert graphs
    for panel in graphs:
        scale = panel["fieldConfig"]["defaults"]["custom"]["scaleDistribution"]
        assert scale == {"type": "log", "log": 10}, panel["title"]


def test_failure_panels_show_exemplars_that_link_to_the_run() -> None:
    """The data source links an exemplar's run_id to the run (Grafana's `$$` is a literal `$` in a
    provisioning file), and the panels of FAILED runs and durations ask for exemplars."""
    datasource = load_yaml(REPO / "grafana" / "provisioning" / "datasources" / "extend-prometheus.yaml")
    (link,) = datasource["datasources"][0]["jsonData"]["exemplarTraceIdDestinations"]
    assert link["name"] == "run_id" and link["url"] == Knobs().run_link_url.replace("$", "$$")
    assert link["url"].endswith("/$${__value.raw}")
    overview = load_json(REPO / "grafana" / "dashboards" / "extend-runs-overview.json")
    with_exemplars = {
        panel["title"]
        for panel in panels(overview)
        if any(target.get("exemplar") for target in panel.get("targets", []))
    }
    assert with_exemplars == {
        FAILURE_REASONS_PANEL,
        "Finished runs per minute by status and kind",
        "Run duration p50 / p95 / p99 by kind",
    }
    mine = "https://extend.example/r/${__value.raw}"
    files = render(Knobs().with_overrides({"run_link_url": mine}))
    assert (
        "url: https://extend.example/r/$${__value.raw}\n"
        in files["grafana/provisioning/datasources/extend-prometheus.yaml"]
    )
