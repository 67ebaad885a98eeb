"""Resource hygiene: graceful SIGTERM with a request hung in flight; no busy loop while the API is down;
/metrics stays live while a sync waits out a long Retry-After."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from exporter.engine.kind_state import KindState
from exporter.fatal import EXIT_OUT_OF_MEMORY
from exporter.kinds import KINDS
from exporter.statefile.store import StateStore
from extend_simulator import Fault, SimConfig, Simulator
from tests.exporter_process import REPO, free_port, series, start_exporter, wait_until
from tests.reliability.proc_readings import cpu_seconds
from tests.reliability.request_log import RequestLog
from tests.reliability.truth import metrics, scrape, up_values


def test_sigterm_with_a_hung_request_exits_0_at_once(tmp_path: Path, figures: dict[str, str]) -> None:
    sim = Simulator(SimConfig(seed=71, history=300, qps_limit=None))
    sim.start(host="127.0.0.1", port=0)
    log = RequestLog(sim)
    state = tmp_path / "state.json"
    try:
        proc = start_exporter(
            sim.url, sim.api_key, kinds="extract_run", poll_interval=0.2, state_file=str(state)
        )
        with proc:
            wait_until(lambda: proc.get("/readyz").status_code == 200, timeout=20, message="ready")
            wait_until(state.exists, timeout=10, message="state written")
            before = StateStore(state, base_url=sim.url, api_version="2026-02-09")
            sim.set_faults(Fault("slow", rate=1.0, delay=60.0))  # the API stops answering
            mark = log.mark()
            wait_until(lambda: len(log.since(mark)) >= 1, timeout=10, message="a request in flight")
            started = time.monotonic()
            proc.send(signal.SIGTERM)
            code = proc.wait(timeout=20)
            took = time.monotonic() - started
        assert code == 0, proc.logs()[-2000:]
        # The request in flight is cut at SIGTERM (its socket shut down), not waited for.
        assert took < 2.0, f"exit took {took:.1f}s"
        assert "did not stop within" not in proc.logs()
        states = {"extract_run": KindState(KINDS["extract_run"])}
        assert before.load({"": states}), "state file not intact after the shutdown"
        assert states["extract_run"].position is not None
        figures["SIGTERM with a request hung for 60 s"] = f"exit 0 after {took:.2f} s, state flushed"
    finally:
        sim.clear_faults()
        sim.stop()


@pytest.mark.timing
def test_unreachable_api_at_start_serves_metrics_and_keeps_retrying_without_burning_cpu(
    figures: dict[str, Any],
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    proc = start_exporter(
        dead,
        "sk_unreachable",
        kinds="workflow_run,extract_run,parse_run",
        poll_interval=1.0,
        extra_env={"EXTEND_EXPORTER_LOG_LEVEL": "info", "EXTEND_EXPORTER_MAX_RETRIES": "4"},
    )
    with proc:
        wait_until(
            lambda: (
                up_values(proc) and all(v == 0.0 for v in up_values(proc).values()) and failures(proc) >= 3
            ),
            timeout=30,
            interval=0.2,
            message="extend_up 0 after failed syncs",
        )
        assert proc.get("/readyz").status_code == 503
        elapsed, response = scrape(f"{proc.url}/metrics")
        assert response.status_code == 200 and elapsed < 0.1
        errors_before, failures_before = api_errors(proc), failures(proc)
        pid = proc.proc.pid
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        # The exposition is refreshed when a sync ends, and one failing sync spends ~5 s in backoff:
        # wait for whole syncs to fail again rather than for a fixed time.
        wait_until(
            lambda: time.monotonic() - t0 >= 5.0 and failures(proc) >= failures_before + 3,
            timeout=60,
            interval=0.25,
            message="the exporter stopped retrying: no further failed syncs",
        )
        cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
        assert api_errors(proc) > errors_before, "failed syncs without failed requests"
        assert proc.proc.poll() is None
    assert cpu < 0.05, f"{cpu:.1%} of a core while the API is down"
    figures["CPU while the API is down (3 kinds, 1 s poll, 4 retries)"] = f"{cpu:.2%} of one core"


def failures(proc: Any) -> float:
    return sum(series(metrics(proc), "extend_syncs_total", result="failure").values())


def api_errors(proc: Any) -> float:
    return sum(series(metrics(proc), "extend_api_requests_total", code="error").values())


def test_metrics_stay_live_while_a_sync_waits_out_retry_after() -> None:
    """The exporter's own counters reach /metrics before the held sync ends (periodic refresh)."""
    sim = Simulator(SimConfig(seed=72, history=300, qps_limit=None))
    sim.start(host="127.0.0.1", port=0)
    sim.advance(120)  # runs in flight, so that there are ages to grow
    try:
        # A hold up to two poll intervals is waited out inside the sync (a longer one fails it at once):
        # 1 s holds, 20 retries.
        with start_exporter(
            sim.url,
            sim.api_key,
            kinds="extract_run",
            poll_interval=1.0,
            extra_env={"EXTEND_EXPORTER_MAX_RETRIES": "20"},
        ) as proc:
            wait_until(lambda: proc.get("/readyz").status_code == 200, timeout=20, message="ready")
            failures_before = failures(proc)
            sim.set_faults(Fault("rate_limit", rate=1.0, retry_after=1))  # one sync now lasts 20 s
            wait_until(
                lambda: sum(series(metrics(proc), "extend_api_requests_total", code="429").values()) > 0,
                timeout=20,
                interval=0.25,
                message="the 429 on /metrics while the sync is held",
            )
            assert failures(proc) == failures_before, "a sync ended: the test proves nothing"
            first = oldest_active_ages(proc)
            assert first > 0, "no run in flight: the test proves nothing"
            wait_until(
                lambda: oldest_active_ages(proc) > first,
                timeout=20,
                interval=0.25,
                message="oldest-active ages growing between syncs",
            )
    finally:
        sim.clear_faults()
        sim.stop()


def oldest_active_ages(proc: Any) -> float:
    return sum(series(metrics(proc), "extend_runs_oldest_active_age_seconds").values())


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=REPO, check=False
    )


def test_a_memory_error_in_any_thread_ends_the_process_with_a_last_line() -> None:
    started = time.monotonic()
    result = _python(
        "import threading, time\n"
        "from exporter import fatal\n"
        "fatal.install()\n"
        "def boom():\n"
        "    raise MemoryError()\n"
        "threading.Thread(target=boom, name='worker-1').start()\n"
        "time.sleep(20)\n"
    )
    assert result.returncode == EXIT_OUT_OF_MEMORY, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("extend-exporter: FATAL out of memory")
    assert "worker-1" in result.stderr
    assert time.monotonic() - started < 10


def test_a_shutdown_that_hangs_is_ended_at_its_deadline() -> None:
    started = time.monotonic()
    result = _python(
        "import threading\n"
        "from exporter.fatal import arm_shutdown_deadline\n"
        "arm_shutdown_deadline(1.0)\n"
        "threading.Event().wait(20)  # a stop that never ends\n"
    )
    took = time.monotonic() - started
    assert result.returncode == -signal.SIGALRM, result.returncode
    assert took < 5, f"took {took:.1f}s"
