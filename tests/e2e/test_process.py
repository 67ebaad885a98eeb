"""The exporter as users run it: a subprocess, scraped over HTTP, against the simulator."""

from __future__ import annotations

import gzip
import shutil
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from exporter.api.identity import key_fingerprint
from exporter.kinds import API_2026, DEFAULT_KINDS
from extend_simulator import SimConfig, Simulator
from tests.exporter_process import ExporterProcess, parse_metrics, series, start_exporter, wait_until

KINDS = "workflow_run,extract_run,classify_run,split_run,parse_run,edit_run,processor_run"


@pytest.fixture
def live_sim() -> Iterator[Simulator]:
    """A real-clock simulator whose timestamps are now-ish, as a real workspace's are."""
    rates = {"workflow": 30.0, "extract": 60.0, "classify": 30.0, "split": 20.0, "parse": 60.0, "edit": 20.0}
    config = SimConfig(
        seed=2,
        history=2000,
        rates=rates,
        epoch=datetime.now(UTC).replace(microsecond=0),
        realtime=True,
        speed=5.0,
        qps_limit=None,
    )
    sim = Simulator(config)
    sim.start(host="127.0.0.1", port=0)
    yield sim
    sim.stop()


@pytest.fixture
def exporter(live_sim: Simulator) -> Iterator[ExporterProcess]:
    with start_exporter(live_sim.url, live_sim.api_key, kinds=KINDS, poll_interval=0.5) as proc:
        yield proc


def test_metrics_pass_promtool_and_cover_every_kind(exporter: ExporterProcess, live_sim: Simulator) -> None:
    wait_until(lambda: exporter.get("/readyz").status_code == 200, timeout=30, message="/readyz")
    # /readyz turns 200 when the last kind's first sync ends; /metrics shows it at the next assembly, which
    # syncs ending close together share (app._refresh_after_sync: within 2 s, sooner when assembly is cheap).
    workspace = key_fingerprint(live_sim.api_key)
    every_kind_up = {(("kind", kind), ("workspace", workspace)): 1.0 for kind in KINDS.split(",")}
    wait_until(
        lambda: series(parse_metrics(exporter.metrics_text()), "extend_up") == every_kind_up,
        timeout=10,
        message="extend_up 1 for every kind on /metrics",
    )
    text = exporter.metrics_text()
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is required"
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), (
        result.stdout + result.stderr
    )
    samples = parse_metrics(text)
    for kind in KINDS.split(","):
        assert series(samples, "extend_up", kind=kind) == {(("kind", kind), ("workspace", workspace)): 1.0}
        assert series(samples, "extend_runs_finished_total", kind=kind, status="FAILED"), kind
    build = series(samples, "extend_exporter_build_info")
    assert list(build.values()) == [1.0]
    # The standard process metrics every exporter has, with plausible values.
    assert series(samples, "process_resident_memory_bytes")[()] > 1e6
    assert series(samples, "process_cpu_seconds_total")[()] > 0
    assert series(samples, "process_open_fds")[()] >= 3
    assert series(samples, "process_start_time_seconds")[()] > 1.7e9


def test_all_kinds_move(exporter: ExporterProcess) -> None:
    def finished_by_kind() -> dict[str, float]:
        totals: dict[str, float] = {}
        for labels, value in series(exporter.metrics(), "extend_runs_finished_total").items():
            kind = dict(labels)["kind"]
            totals[kind] = totals.get(kind, 0.0) + value
        return totals

    wait_until(
        lambda: all(v > 0 for v in finished_by_kind().values()) and len(finished_by_kind()) == 7,
        timeout=60,
        interval=0.5,
        message="every kind counting finished runs",
    )


def test_gzip_landing_health(exporter: ExporterProcess) -> None:
    plain = exporter.get("/metrics", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert b"extend_runs_active" in plain.content
    with httpx.stream(
        "GET", f"{exporter.url}/metrics", headers={"Accept-Encoding": "gzip"}, timeout=5
    ) as zipped:
        assert zipped.headers["Content-Encoding"] == "gzip"
        raw = b"".join(zipped.iter_raw())
    assert b"extend_runs_active" in gzip.decompress(raw)
    landing = exporter.get("/")
    assert landing.status_code == 200 and "/metrics" in landing.text
    assert exporter.get("/healthz").status_code == 200
    assert exporter.get("/nope").status_code == 404


def test_up_drops_on_revoked_key_and_recovers(live_sim: Simulator, exporter: ExporterProcess) -> None:
    wait_until(lambda: exporter.get("/readyz").status_code == 200, timeout=30, message="ready")
    live_sim.revoke_key(live_sim.api_key)

    def all_down() -> bool:
        up = series(exporter.metrics(), "extend_up")
        return bool(up) and all(v == 0.0 for v in up.values())

    wait_until(all_down, timeout=30, interval=0.2, message="extend_up 0 for every kind")
    errors = series(exporter.metrics(), "extend_sync_errors_total", reason="unauthorized")
    assert sum(errors.values()) > 0
    wait_until(lambda: exporter.get("/readyz").status_code == 503, timeout=30, message="not ready")
    assert exporter.get("/metrics").status_code == 200  # still served from the last snapshot
    live_sim.restore_key(live_sim.api_key)
    wait_until(
        lambda: {v for v in series(exporter.metrics(), "extend_up").values()} == {1.0},
        timeout=30,
        interval=0.2,
        message="extend_up back to 1",
    )
    wait_until(lambda: exporter.get("/readyz").status_code == 200, timeout=30, message="ready again")
    assert live_sim.api_key not in exporter.logs()


def test_sigterm_flushes_state_and_exits_zero(live_sim: Simulator, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    proc = start_exporter(
        live_sim.url, live_sim.api_key, kinds="extract_run", poll_interval=0.5, state_file=str(state)
    )
    try:
        wait_until(lambda: proc.get("/readyz").status_code == 200, timeout=30, message="ready")
        wait_until(state.exists, timeout=10, message="state file written")
        proc.send(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        proc.stop()
    assert b'"extract_run"' in state.read_bytes()
    assert live_sim.api_key.encode() not in state.read_bytes()


def test_check_command_prints_a_table(live_sim: Simulator) -> None:
    from tests.test_cli import run_cli

    ok = run_cli(
        "check",
        env={
            "EXTEND_API_KEY": live_sim.api_key,
            "EXTEND_API_BASE_URL": live_sim.url,
            "EXTEND_EXPORTER_KINDS": KINDS,
        },
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    for kind in KINDS.split(","):
        assert kind in ok.stdout
    bad = run_cli("check", env={"EXTEND_API_KEY": "sk_wrong_canary", "EXTEND_API_BASE_URL": live_sim.url})
    assert bad.returncode == 1
    assert "unauthorized" in bad.stdout
    assert "sk_wrong_canary" not in bad.stdout + bad.stderr


def test_demo_serves_all_kinds_moving(tmp_path: Path) -> None:
    """`make demo` runs `extend-exporter demo`: simulator and exporter in one command."""
    import os
    import sys

    from tests.exporter_process import REPO, free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXTEND_")}
    log = open(tmp_path / "demo.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", "demo", "--listen", f"127.0.0.1:{port}", "--poll-interval", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    try:

        def moving() -> bool:
            assert proc.poll() is None, (tmp_path / "demo.log").read_text()
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            finished = series(parse_metrics(text), "extend_runs_finished_total")
            kinds = {dict(labels)["kind"] for labels, value in finished.items() if value > 0}
            return kinds == set(DEFAULT_KINDS[API_2026])

        wait_until(moving, timeout=90, interval=1, message="every default kind counting finished runs")
        assert f"http://127.0.0.1:{port}/metrics" in (tmp_path / "demo.log").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        log.close()
