"""CLI (as a subprocess, SIGTERM -> exit 0), the demo simulator, and a scale smoke test."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

from extend_simulator import SimConfig, Simulator
from extend_simulator.cli import add_arguments, config_from_args, start_demo_simulator
from tests.exporter_process import REPO

from .sim_client import V_NEW, client, wait_for


def test_arguments_map_to_config() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        [
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "5",
            "--history",
            "10",
            "--rate",
            "extract=90",
            "--rate",
            "parse=1.5",
            "--no-realtime",
            "--cursor-mode",
            "keyset",
            "--qps-limit",
            "0",
            "--org-key",
            "sk_org",
        ]
    )
    cfg = config_from_args(args)
    assert args.listen == ("127.0.0.1", 0)
    assert cfg.seed == 5 and cfg.history == 10 and cfg.cursor_mode == "keyset" and cfg.qps_limit is None
    assert cfg.rates["extract"] == 90.0 and cfg.rates["parse"] == 1.5 and cfg.realtime is False
    assert cfg.keys["sk_org"] == {"org_scoped": True} and cfg.default_key() == "sk_sim_test"


def test_cli_serves_until_sigterm() -> None:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [
        sys.executable,
        "-m",
        "extend_simulator",
        "--listen",
        "127.0.0.1:0",
        "--history",
        "200",
        "--no-realtime",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+) \(api key: (\S+?),", line)
        assert m, line
        url, key = m.group(1), m.group(2)
        r = httpx.get(
            f"{url}/extract_runs", headers={"Authorization": f"Bearer {key}", "x-extend-api-version": V_NEW}
        )
        assert r.status_code == 200 and r.json()["object"] == "list"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


def test_demo_simulator_is_lively_and_rate_limited() -> None:
    sim = start_demo_simulator()
    try:
        assert sim.config.realtime and sim.config.qps_limit == 10.0
        start = sim.now()
        wait_for(lambda: (sim.now() - start).total_seconds() >= 0.3, timeout=5)
        with client(sim) as c:
            r = c.get("/workflow_runs", params={"status": "NEEDS_REVIEW", "maxPageSize": 1})
            assert r.status_code == 200
            codes = [c.get("/extract_runs", params={"maxPageSize": 1}).status_code for _ in range(25)]
            assert 429 in codes
    finally:
        sim.stop()


@pytest.mark.timing
def test_scale_smoke_100k() -> None:
    t0 = time.monotonic()
    sim = Simulator(SimConfig(seed=3, history=100_000, qps_limit=None))
    build = time.monotonic() - t0
    sim.start()
    try:
        assert build < 10
        with client(sim) as c:
            c.get("/processor_runs", params={"maxPageSize": 1000})
            t1 = time.monotonic()
            r = c.get("/processor_runs", params={"maxPageSize": 1000})
            first = time.monotonic() - t1
            assert len(r.json()["processorRuns"]) == 1000
            deep = None
            for _ in range(30):
                r = c.get(
                    "/processor_runs",
                    params={"maxPageSize": 1000, "nextPageToken": r.json()["nextPageToken"]},
                )
            t2 = time.monotonic()
            r = c.get(
                "/processor_runs", params={"maxPageSize": 1000, "nextPageToken": r.json()["nextPageToken"]}
            )
            deep = time.monotonic() - t2
            assert first < 0.5 and deep < 0.5  # generous bounds for slow CI; bench/ measures the real figures
    finally:
        sim.stop()


def test_help_names_every_option_default_and_the_control_endpoints() -> None:
    simulate = argparse.ArgumentParser()
    add_arguments(simulate)  # what `extend-exporter simulate` and `python -m extend_simulator` offer
    options = [a for a in simulate._actions if a.option_strings and a.dest != "help"]
    assert len(options) >= 18
    for action in options:
        assert action.help and "[default:" in action.help, action.option_strings
    control = (REPO / "extend_simulator" / "control.py").read_text()
    endpoints = set(re.findall(r'"(/_sim/[a-z]+)"', control))
    assert endpoints and all(e in (simulate.epilog or "") for e in endpoints)
    documented = (REPO / "docs" / "simulator.md").read_text()
    assert [e for e in sorted(endpoints) if e not in documented] == []


def test_scenarios_set_the_workload_and_given_flags_win() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    normal = config_from_args(parser.parse_args(["--scenario", "normal"]))
    assert normal.failure_rate == 0.015 and "OUT_OF_CREDITS" in normal.failure_reasons_excluded
    assert normal.stuck_runs == 0 and normal.waiting_runs == ()
    incident = config_from_args(parser.parse_args(["--scenario", "incident", "--failure-rate", "0.1"]))
    assert incident.failure_rate == 0.1 and len(incident.waiting_runs) == 2
    plain = config_from_args(parser.parse_args([]))
    assert plain.failure_rate == 0.05 and plain.history == 20_000 and plain.rates == SimConfig().rates
