"""A hostile or broken upstream, against the exporter as users run it (a subprocess): a body that
drips, pages far larger than asked for, a gzip bomb, endless page tokens. Each fails the sync cleanly
with its own reason, within a bound, and the process stays up, small and stoppable."""

from __future__ import annotations

import resource
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.api.client import RESPONSE_BYTES_BASE
from exporter.api.identity import key_fingerprint
from exporter.fatal import EXIT_OUT_OF_MEMORY
from tests.exporter_process import ExporterProcess, series, start_exporter, wait_until
from tests.reliability.standin import StandIn, standin
from tests.reliability.truth import metrics

TIMEOUT = 2.0
PAGE = 1000
BYTES_PER_RUN = 8192
CAP = RESPONSE_BYTES_BASE + PAGE * BYTES_PER_RUN
# Documented bound (docs/design.md, "Limits"): a refused response raises peak RSS by at most 4x the cap.
RSS_GROWTH_BOUND_KIB = 4 * CAP // 1024


def vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.fixture(scope="module")
def upstream() -> Iterator[StandIn]:
    with standin() as server:
        yield server


def start(url: str, **env: str) -> ExporterProcess:
    return start_exporter(
        url,
        "sk_standin",
        kinds="workflow_run",
        poll_interval=0.5,
        extra_env={
            "EXTEND_EXPORTER_REQUEST_TIMEOUT_SECONDS": str(TIMEOUT),
            "EXTEND_EXPORTER_MAX_RETRIES": "0",
            "EXTEND_EXPORTER_PAGE_SIZE": str(PAGE),
            "EXTEND_EXPORTER_MAX_RESPONSE_BYTES_PER_RUN": str(BYTES_PER_RUN),
            "EXTEND_EXPORTER_LOG_LEVEL": "info",
            **env,
        },
    )


def errors(proc: ExporterProcess, reason: str) -> float:
    return sum(series(metrics(proc), "extend_sync_errors_total", kind="workflow_run", reason=reason).values())


def up(proc: ExporterProcess) -> float:
    return sum(series(metrics(proc), "extend_up", kind="workflow_run").values())


def test_drip_fails_the_sync_within_twice_the_timeout_and_counts_the_request(
    upstream: StandIn, figures: dict[str, str]
) -> None:
    upstream.mode = "ok"
    with start(upstream.url) as proc:
        wait_until(lambda: up(proc) == 1.0, timeout=20, message="first sync")
        upstream.in_drip.clear()
        upstream.mode = "drip"
        wait_until(upstream.in_drip.is_set, timeout=10, message="a dripping request")
        began = time.monotonic()
        wait_until(
            lambda: errors(proc, "timeout") >= 1, timeout=4 * TIMEOUT, interval=0.05, message="timeout"
        )
        took = time.monotonic() - began
        samples = metrics(proc)
        upstream.mode = "ok"
        assert took <= 2 * TIMEOUT + 0.5, f"sync failed {took:.1f}s after the drip began (timeout {TIMEOUT}s)"
        assert sum(series(samples, "extend_api_requests_total", code="timeout").values()) >= 1
        labels = (("kind", "workflow_run"), ("workspace", key_fingerprint("sk_standin")))
        assert series(samples, "extend_up", kind="workflow_run") == {labels: 0.0}
        figures[f"drip upstream, {TIMEOUT:g} s timeout"] = f"sync failed (timeout) after {took:.2f} s"
        wait_until(lambda: up(proc) == 1.0, timeout=20, message="recovery after the drip")


def test_sigterm_with_a_dripping_request_in_flight_exits_within_2s(
    upstream: StandIn, figures: dict[str, str]
) -> None:
    upstream.mode = "ok"
    with start(upstream.url, EXTEND_EXPORTER_REQUEST_TIMEOUT_SECONDS="300") as proc:
        wait_until(lambda: up(proc) == 1.0, timeout=20, message="first sync")
        upstream.mode = "drip"
        # The in-flight gauges show the hang (the exposition refreshes every 5 s).
        wait_until(
            lambda: (
                series(metrics(proc), "extend_api_oldest_request_age_seconds")[()] >= 1.0
                and series(metrics(proc), "extend_api_requests_in_flight")[()] == 1.0
            ),
            timeout=15,
            interval=0.2,
            message="a request shown in flight",
        )
        started = time.monotonic()
        proc.send(signal.SIGTERM)
        code = proc.wait(timeout=15)
        took = time.monotonic() - started
        upstream.mode = "ok"
        assert code == 0, proc.logs()[-2000:]
        assert took < 2.0, f"exit took {took:.2f}s"
        figures["SIGTERM with a dripping request in flight"] = f"exit 0 after {took:.2f} s"


@pytest.mark.parametrize("mode", ["big", "big_chunked", "bomb"])
def test_oversized_page_or_gzip_bomb_fails_cleanly_within_a_memory_bound(
    upstream: StandIn, mode: str, figures: dict[str, str]
) -> None:
    upstream.mode = "ok"
    with start(upstream.url) as proc:
        wait_until(lambda: up(proc) == 1.0, timeout=20, message="first sync")
        before = vm_hwm_kib(proc.proc.pid)
        upstream.mode = mode
        wait_until(lambda: errors(proc, "bad_response") >= 2, timeout=30, message="bad_response")
        growth = vm_hwm_kib(proc.proc.pid) - before
        assert up(proc) == 0.0  # every sync fails while the mode holds
        assert "larger than" in proc.logs()
        assert "Traceback" not in proc.logs()
        assert growth < RSS_GROWTH_BOUND_KIB, f"peak RSS grew {growth} KiB (bound {RSS_GROWTH_BOUND_KIB})"
        figures[f"{mode} response"] = f"bad_response, peak RSS +{growth} KiB (bound {RSS_GROWTH_BOUND_KIB})"
        upstream.mode = "ok"
        wait_until(lambda: up(proc) == 1.0, timeout=20, message="recovery")


def test_endless_page_tokens_fail_the_sync(upstream: StandIn) -> None:
    upstream.mode = "ok"
    with start(upstream.url, EXTEND_EXPORTER_MAX_RUNS_PER_LISTING="20000") as proc:
        wait_until(lambda: up(proc) == 1.0, timeout=20, message="first sync")
        upstream.mode = "endless"
        wait_until(lambda: errors(proc, "bad_response") >= 1, timeout=30, message="bad_response")
        assert up(proc) == 0.0
        assert "pages of" in proc.logs()
        upstream.mode = "ok"
        wait_until(lambda: up(proc) == 1.0, timeout=20, message="recovery")


def test_a_long_retry_after_sets_up_0_within_two_intervals_and_recovers_after_the_hold(
    upstream: StandIn, figures: dict[str, str]
) -> None:
    poll, hold = 1.0, 6.0  # Retry-After 3600 is cut to EXTEND_EXPORTER_MAX_RETRY_AFTER_SECONDS (6 here)
    upstream.mode = "ok"
    with start(
        upstream.url,
        EXTEND_EXPORTER_POLL_INTERVAL_SECONDS=str(poll),
        EXTEND_EXPORTER_MAX_RETRY_AFTER_SECONDS=str(hold),
        EXTEND_EXPORTER_MAX_RETRIES="4",
    ) as proc:
        wait_until(lambda: up(proc) == 1.0, timeout=20, message="first sync")
        upstream.retry_after = 3600
        mark = len(upstream.times)
        upstream.mode = "hold"
        began = time.monotonic()
        wait_until(lambda: errors(proc, "rate_limited") >= 1, timeout=10, interval=0.05, message="up 0")
        took = time.monotonic() - began
        assert up(proc) == 0.0
        upstream.mode = "ok"
        # Documented bound: two poll intervals (the next sync starts within one, and fails at once).
        assert took <= 2 * poll + 0.5, f"extend_up 0 only after {took:.1f}s"
        wait_until(lambda: up(proc) == 1.0, timeout=hold + 10, message="recovery after the hold")
        times = upstream.times[mark:]
        assert len(times) >= 2 and times[1] - times[0] >= hold - 0.5, "a request was sent during the hold"
        figures["Retry-After 3600 (cut to 6 s), 1 s poll"] = (
            f"extend_up 0 (rate_limited) after {took:.2f} s, next request {times[1] - times[0]:.1f} s "
            "after the 429, then up 1"
        )


def vm_size_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1])
    raise AssertionError("no VmSize")


def test_memory_exhaustion_exits_non_zero_with_a_last_line(
    upstream: StandIn, figures: dict[str, str]
) -> None:
    """Under an address-space limit a big page (the cap raised to allow it) ends the process: a clear
    last line and a non-zero exit, so it is restarted, never a hang."""
    upstream.mode = "ok"
    with start(upstream.url, EXTEND_EXPORTER_MAX_RESPONSE_BYTES_PER_RUN="1048576") as proc:
        wait_until(lambda: up(proc) == 1.0, timeout=20, message="first sync")
        pid = proc.proc.pid
        limit = (vm_size_kib(pid) + 48 * 1024) * 1024  # 48 MiB of address space to spare
        resource.prlimit(pid, resource.RLIMIT_AS, (limit, limit))
        upstream.mode = "big"  # a 100k-run page: parsing it needs far more than 48 MiB
        began = time.monotonic()
        code = proc.wait(timeout=60)
        took = time.monotonic() - began
        upstream.mode = "ok"
        last = proc.logs().strip().splitlines()[-1]
        assert code == EXIT_OUT_OF_MEMORY, proc.logs()[-2000:]
        assert "FATAL out of memory" in last, last
        figures["address-space limit, 100k-run page"] = f"exit {code} after {took:.1f} s: {last}"
