"""promtool on the alert rules (syntax and unit tests), and every shipped PromQL expression through both
Prometheus's own parser and promql-parser."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from grafana.alerts import alerts
from grafana.knobs import Knobs

from .promql import PROMETHEUS_RULE_TESTS, PROMETHEUS_RULES, all_exprs, load_yaml, references


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is required (Debian package `prometheus`; .ci/run installs it)"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False)


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", str(PROMETHEUS_RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts(Knobs()))} rules found" in result.stdout


def _unit_tests_failing_with(rules: dict[str, Any], tmp_path: Path) -> str:
    """Run the shipped promtool unit tests against mutated `rules`; they must fail: their output."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "extend-alerts.yaml").write_text(yaml.safe_dump(rules))
    shutil.copy(PROMETHEUS_RULE_TESTS, tmp_path / "tests" / PROMETHEUS_RULE_TESTS.name)
    result = promtool("test", "rules", str(tmp_path / "tests" / PROMETHEUS_RULE_TESTS.name))
    assert result.returncode != 0, "the unit tests pass against the mutated rules"
    return result.stdout + result.stderr


def test_promtool_unit_tests() -> None:
    """Each alert fires on its scenario and stays silent on its near-misses (restart, scrape gap, ...)."""
    result = promtool("test", "rules", str(PROMETHEUS_RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    tested = {
        case["alertname"]
        for test in load_yaml(PROMETHEUS_RULE_TESTS)["tests"]
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    rules = {rule["alert"] for group in load_yaml(PROMETHEUS_RULES)["groups"] for rule in group["rules"]}
    assert tested == rules, f"alerts without a firing scenario: {rules - tested}"


def test_unit_tests_catch_a_spike_rule_without_the_catch_up_guard(tmp_path: Path) -> None:
    """The near-miss scenarios have teeth: a naive `increase(...) >= N` fires on the post-outage catch-up."""
    rules = load_yaml(PROMETHEUS_RULES)
    spike = next(r for r in rules["groups"][0]["rules"] if r["alert"] == "ExtendRunsFailedSpike")
    guard = re.compile(r"\n  unless on \(job, instance, workspace, kind\)\n  \(\n.*?\n  \)", re.DOTALL)
    spike["expr"], removed = guard.subn("", spike["expr"])
    assert removed == 1, spike["expr"]
    output = _unit_tests_failing_with(rules, tmp_path)
    failed_cases = [line for line in output.splitlines() if line.strip().startswith("name:")]
    assert failed_cases and all("catch-up after a 30-minute API outage" in line for line in failed_cases), (
        output
    )


def test_unit_tests_catch_a_liveness_rule_keyed_on_the_pod_address(tmp_path: Path) -> None:
    """The rollout and reschedule scenarios have teeth: the old rule, keyed on `instance` (the pod address),
    fires after every routine pod replacement; the shipped one, keyed on job and workspace, does not."""
    rules = load_yaml(PROMETHEUS_RULES)
    down = next(r for r in rules["groups"][0]["rules"] if r["alert"] == "ExtendExporterDown")
    down["expr"] = (
        "max without (version, api_version) (max_over_time(extend_exporter_build_info[1d]))\n"
        "unless on (job, instance)\nextend_exporter_build_info"
    )
    output = _unit_tests_failing_with(rules, tmp_path)
    failed_cases = {line.strip() for line in output.splitlines() if line.strip().startswith("name:")}
    assert any("a rollout (old pod gone at 20m" in line for line in failed_cases), output
    assert any("a reschedule (eviction at 30m" in line for line in failed_cases), output


def test_every_expression_parses_with_prometheus(tmp_path: Path) -> None:
    """Prometheus's own parser (via promtool) accepts every dashboard query and alert expression."""
    exprs = all_exprs()
    rule_file = tmp_path / "all.yaml"
    rule_file.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "all",
                        "rules": [{"record": f"check:expr_{i}", "expr": e.text} for i, e in enumerate(exprs)],
                    }
                ]
            }
        )
    )
    result = promtool("check", "rules", str(rule_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


def test_every_expression_parses_with_promql_parser() -> None:
    problems = []
    for e in all_exprs():
        try:
            refs = references(e.text)
        except Exception as exc:  # report them all at once
            problems.append(f"{e.where}: {exc}")
            continue
        if e.text.startswith("vector("):
            continue
        if not refs.selectors:
            problems.append(f"{e.where}: reads no metric")
    assert not problems, "\n".join(problems)
