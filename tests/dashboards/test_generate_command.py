"""`extend-exporter generate`: the rules, runbook and dashboards with a user's settings, run as the installed
command runs it (a subprocess), with and without grafana-foundation-sdk."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grafana.alerts import alerts
from grafana.knobs import Knobs

BASE = "https://git.example.com/me/extend-exporter/blob/main/docs/runbook.md"
RULES = Path("deploy/prometheus/extend-alerts.yaml")
RUNBOOK = Path("docs/runbook.md")
# What `import grafana_foundation_sdk` meets on a plain install: the module is not there.
WITHOUT_SDK = "sys.modules['grafana_foundation_sdk'] = None; "


def generate(*args: str, sdk: bool = True) -> subprocess.CompletedProcess[str]:
    code = (
        f"import sys; {'' if sdk else WITHOUT_SDK}from exporter.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXTEND_")}
    return subprocess.run(
        [sys.executable, "-c", code, "generate", *args], capture_output=True, text=True, timeout=60, env=env
    )


def _load(path: Path) -> dict[str, object]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_generate_writes_everything_with_your_settings(tmp_path: Path) -> None:
    result = generate(
        *("--out", str(tmp_path), "--runbook-base-url", BASE),
        *("--prometheus-url", "http://prom.example:9090", "--scrape-interval", "30s"),
        *("--set", "failed_spike_min_count=25"),
    )
    assert result.returncode == 0, result.stderr
    rules = _load(tmp_path / RULES)["groups"][0]["rules"]  # type: ignore[index]
    assert [r["alert"] for r in rules] == [a.name for a in alerts(Knobs())]
    for rule in rules:
        assert rule["annotations"]["runbook_url"] == f"{BASE}#{rule['alert'].lower()}"
    [spike] = [r for r in rules if r["alert"] == "ExtendRunsFailedSpike"]
    assert ">= 25" in spike["expr"]
    checked = subprocess.run(
        [shutil.which("promtool") or "promtool", "check", "rules", str(tmp_path / RULES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    managed = _load(tmp_path / "grafana/provisioning/alerting/extend-alerts.yaml")
    for rule in managed["groups"][0]["rules"]:  # type: ignore[index]
        assert rule["annotations"]["runbook_url"].startswith(BASE + "#")
    datasources = _load(tmp_path / "grafana/provisioning/datasources/extend-prometheus.yaml")["datasources"]
    assert isinstance(datasources, list)
    [source] = datasources
    assert source["url"] == "http://prom.example:9090" and source["jsonData"]["timeInterval"] == "30s"
    assert sorted(p.name for p in (tmp_path / "grafana/dashboards").iterdir()) == [
        "extend-exporter-health.json",
        "extend-runs-overview.json",
    ]
    assert (tmp_path / RUNBOOK).read_text(encoding="utf-8").startswith("# extend-exporter runbook")


def test_rules_only_needs_no_grafana_sdk(tmp_path: Path) -> None:
    full = generate("--out", str(tmp_path / "full"), sdk=False)
    assert full.returncode == 2
    assert full.stderr.count("\n") == 1 and "pip install 'extend-exporter[generate]'" in full.stderr
    assert "Traceback" not in full.stderr
    rules_only = generate(
        "--out", str(tmp_path / "rules"), "--rules-only", "--runbook-base-url", BASE, sdk=False
    )
    assert rules_only.returncode == 0, rules_only.stderr
    written = sorted(
        str(p.relative_to(tmp_path / "rules")) for p in (tmp_path / "rules").rglob("*") if p.is_file()
    )
    assert written == [str(RULES), str(RUNBOOK)]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("--runbook-base-url", "docs/runbook.md"), "--runbook-base-url"),
        (("--runbook-base-url", "https://git.example.com/runbook.md#top"), "--runbook-base-url"),
        (("--scrape-interval", "soon"), "--scrape-interval"),
        (("--set", "no_such_knob=1"), "--set"),
        (("--set", "failed_spike_min_count"), "--set"),
    ],
    ids=["relative-runbook", "runbook-fragment", "scrape-interval", "unknown-knob", "set-without-value"],
)
def test_bad_options_exit_2_with_one_line(tmp_path: Path, args: tuple[str, str], option: str) -> None:
    result = generate("--out", str(tmp_path), *args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and option in result.stderr, result.stderr
    assert not any(tmp_path.iterdir()), "nothing is written when an option is wrong"


def test_out_is_required() -> None:
    result = generate()
    assert result.returncode == 2 and "--out" in result.stderr and result.stderr.count("\n") == 1
