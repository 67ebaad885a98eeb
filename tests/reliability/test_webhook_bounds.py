"""1,000 slow or half-open clients on the webhook port delay neither /metrics nor real deliveries.

The exporter runs as a process with its webhook listener on; 500 clients that never finish a request
head and 500 that send a webhook head and then drip its body hold the webhook port (abuse.py, one
subprocess each) while /metrics is scraped as Prometheus would and a signed delivery is posted every
second. Short here (ATTACK_SECONDS); `make soak` runs it for EXTEND_SOAK_SECONDS (at most 10 minutes).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from exporter.web.server import WORKERS
from exporter.webhooks.listener import WORKERS as WEBHOOK_WORKERS
from extend_simulator import SimConfig, Simulator
from extend_simulator.webhooks import sign
from tests.exporter_process import REPO, ExporterProcess, exporter_env, free_port, parse_metrics, series
from tests.reliability.budgets import SOAK_SECONDS
from tests.reliability.scrape_watch import ScrapeWatch, as_a_remote_client, proc_status

pytestmark = [pytest.mark.slow, pytest.mark.timing]

SECRET = "wss_reliability_webhook_secret"
ATTACK_SECONDS = min(SOAK_SECONDS, 600.0) if SOAK_SECONDS else 8.0
BODY_TIMEOUT = 3.0
SCRAPE_P99_BOUND = 0.100
DELIVERY_BOUND = 2.0  # a delivery's answer, seconds, while the port is under attack
# Both servers' workers and loops, plus main, the scheduler, one sync thread, the exposition refresh.
THREAD_CAP = WORKERS + 1 + WEBHOOK_WORKERS + 1 + 4
RSS_GROWTH_BOUND = 24 * 1024 * 1024


class Deliveries:
    """Posts a signed delivery every second on a new connection; keeps the answers and their times."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: list[tuple[int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(1.0):
            n += 1
            body = json.dumps(
                {"eventId": f"evt_rel_{n}", "eventType": "extract_run.failed", "payload": {}}
            ).encode()
            ts = str(int(time.time()))
            headers = {"x-extend-request-timestamp": ts, "x-extend-request-signature": sign(SECRET, ts, body)}
            started = time.perf_counter()
            try:
                code = httpx.post(self.url, content=body, headers=headers, timeout=10).status_code
            except httpx.HTTPError:
                code = 0
            self.answers.append((code, time.perf_counter() - started))

    def __enter__(self) -> Deliveries:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)


def test_slow_and_half_open_clients_on_the_webhook_port(tmp_path: Path, figures: dict[str, str]) -> None:
    sim = Simulator(SimConfig(seed=22, history=200, qps_limit=None))
    sim.start(host="127.0.0.1", port=0)
    port, hook_port = free_port(), free_port()
    env = exporter_env(
        sim.url,
        sim.api_key,
        port=port,
        kinds="extract_run",
        poll_interval=5.0,
        extra_env={
            "EXTEND_EXPORTER_LOG_LEVEL": "info",
            "EXTEND_EXPORTER_WEBHOOK_LISTEN_ADDRESS": f"127.0.0.1:{hook_port}",
            "EXTEND_EXPORTER_WEBHOOK_SECRET": SECRET,
            "EXTEND_EXPORTER_WEBHOOK_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
        },
    )
    try:
        with ExporterProcess(env, port, tmp_path / "exporter.log") as proc:
            for _ in range(10):
                proc.get("/metrics")
            base_threads, base_rss = proc_status(proc.proc.pid)
            argv = [sys.executable, "-m", "tests.reliability.abuse"]
            common = ["127.0.0.1", str(hook_port), "--connections", "500", "--seconds", str(ATTACK_SECONDS)]
            with (
                ScrapeWatch(proc.proc.pid, port, None) as watch,
                Deliveries(f"http://127.0.0.1:{hook_port}/webhooks/extend") as deliveries,
            ):
                attackers = [
                    subprocess.Popen(
                        [*argv, mode, *common],
                        cwd=REPO,
                        stdout=subprocess.PIPE,
                        text=True,
                        preexec_fn=as_a_remote_client,
                    )
                    for mode in ("half-open", "slow-body")
                ]
                reports = [_report(a, ATTACK_SECONDS) for a in attackers]
            text = proc.get("/metrics").text
    finally:
        sim.stop()
    rejected = {
        dict(labels)["reason"]: v
        for labels, v in series(parse_metrics(text), "extend_webhook_http_connections_rejected_total").items()
    }
    slowest = max(t for _, t in deliveries.answers)
    result = (
        f"{ATTACK_SECONDS:g} s, 1,000 clients: /metrics {len(watch.latencies)} scrapes p99 "
        f"{watch.p99() * 1000:.1f} ms; deliveries {len(deliveries.answers)}, slowest {slowest:.2f} s; "
        f"threads {base_threads}->{watch.max_threads}, RSS {base_rss >> 20}->{watch.max_rss >> 20} MiB; "
        f"attack {reports}; webhook port closed {rejected}"
    )
    figures["webhook port under attack"] = result
    print(result)
    assert not watch.failures, watch.failures[:5]
    assert watch.p99() < SCRAPE_P99_BOUND, result
    assert watch.max_threads <= THREAD_CAP, result
    assert watch.max_rss - base_rss <= RSS_GROWTH_BOUND, result
    assert deliveries.answers and all(code == 200 for code, _ in deliveries.answers), deliveries.answers
    assert slowest < DELIVERY_BOUND, result
    assert all(r["closed_by_server"] > 0 for r in reports), result
    assert rejected["header_timeout"] + rejected["connection_limit"] > 0, result
    assert rejected["body_timeout"] + rejected["connection_limit"] > 0, result


def _report(attacker: subprocess.Popen[str], seconds: float) -> dict[str, Any]:
    out, _ = attacker.communicate(timeout=seconds + 30)
    assert attacker.returncode == 0
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result
