"""The README's quick start, run as written: `make demo` (a plain install of the runtime dependencies in
.venv-demo, then the demo), the "Against your workspace" block in that plain install against a simulator
that accepts the README's placeholder key, and the `extend-exporter generate` line.

The environment supplies only what the README leaves to the reader's machine: where the API is (the
simulator's URL, for https://api.extend.ai) and a free port (for 9864, which another test may hold).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from exporter.kinds import API_2026, DEFAULT_KINDS
from extend_simulator import SimConfig, Simulator
from tests.exporter_process import REPO, free_port, parse_metrics, series, wait_until

README = REPO / "README.md"
DEMO_BIN = REPO / ".venv-demo" / "bin"


def sh_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def commands(block: str) -> list[str]:
    return [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]


@pytest.fixture(scope="module")
def plain_install() -> Path:
    """.venv-demo as `make demo` makes it (a plain install: no test toolchain, no generate extra)."""
    subprocess.run(["make", ".venv-demo/.installed"], cwd=REPO, check=True, capture_output=True, timeout=600)
    return DEMO_BIN


def _env(**more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXTEND_", "VIRTUAL_ENV"))}
    return {**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1", **more}


@pytest.fixture
def session(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes started in sessions of their own; their whole group is ended afterwards."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def _every_kind_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> bool:
    assert proc.poll() is None, log.read_text(errors="replace")
    samples = parse_metrics(httpx.get(url, timeout=2).text)
    up = {dict(labels)["kind"] for labels, value in series(samples, "extend_up").items() if value == 1}
    return up == set(DEFAULT_KINDS[API_2026])


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_make_demo_as_written(
    plain_install: Path, tmp_path: Path, session: list[subprocess.Popen[bytes]]
) -> None:
    first = commands(sh_blocks()[0])[0]
    assert first == "make demo"
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            first.split(), cwd=REPO, env=_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    session.append(proc)

    def metrics_url() -> str | None:
        assert proc.poll() is None, log.read_text(errors="replace")
        match = re.search(r"Exporter metrics: (http://\S+/metrics)", log.read_text(errors="replace"))
        return match.group(1) if match else None

    url = wait_until(metrics_url, timeout=120, interval=0.5, message="the demo's metrics URL")
    wait_until(lambda: _every_kind_up(url, proc, log), timeout=60, interval=1, message="every kind up")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_against_your_workspace_as_written(
    plain_install: Path, tmp_path: Path, session: list[subprocess.Popen[bytes]]
) -> None:
    [block] = [b for b in sh_blocks() if "extend-exporter check" in b]
    key_match = re.search(r"EXTEND_API_KEY=(\S+)", block)
    assert key_match
    sim = Simulator(SimConfig(seed=2, history=200, api_key=key_match.group(1), realtime=True))
    sim.start(host="127.0.0.1", port=0)
    port = free_port()
    env = _env(
        PATH=f"{plain_install}:{os.environ['PATH']}",
        EXTEND_API_BASE_URL=sim.url,
        EXTEND_EXPORTER_LISTEN_ADDRESS=f"127.0.0.1:{port}",
    )
    log = tmp_path / "workspace.log"
    try:
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                ["bash", "-euo", "pipefail", "-c", block],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        session.append(proc)
        url = f"http://127.0.0.1:{port}/metrics"
        wait_until(lambda: _every_kind_up(url, proc, log), timeout=240, interval=1, message="every kind up")
        assert re.search(r"verify_run\s+/verify_runs\s+.*ok", log.read_text()), log.read_text()
    finally:
        sim.stop()


def test_generate_as_written(tmp_path: Path, plain_install: Path) -> None:
    """With the generate extra (the test toolchain has it) the README's line writes everything; a plain
    install says in one line which extra it needs."""
    [block] = [b for b in sh_blocks() if "extend-exporter generate" in b]
    line = block.replace("\\\n", " ")

    def run_in(bin_dir: Path) -> subprocess.CompletedProcess[str]:
        env = _env(PATH=f"{bin_dir}:{os.environ['PATH']}")
        argv = ["bash", "-euo", "pipefail", "-c", line]
        return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    full = run_in(Path(sys.executable).parent)
    assert full.returncode == 0, full.stderr
    assert (tmp_path / "generated/grafana/dashboards/extend-runs-overview.json").exists()
    assert (
        "runbook_url: https://" in (tmp_path / "generated/deploy/prometheus/extend-alerts.yaml").read_text()
    )
    plain = run_in(plain_install)
    assert plain.returncode == 2 and plain.stderr.count("\n") == 1, plain.stderr
    assert "pip install 'extend-exporter[generate]'" in plain.stderr
