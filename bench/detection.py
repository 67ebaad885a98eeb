"""Detection latency: from a run turning FAILED in the simulator to the counter change on /metrics.

Measured with the real clock: the simulator runs in real time (speed 1, its epoch at the real now,
10x the default arrival rates and a 30% failure rate, so failures come about once a second), the
exporter runs its real scheduler and HTTP server with a short poll interval, in the same process.
A watcher polls the simulator's ground truth every 10 ms (when each FAILED transition happened) and
/metrics every 25 ms (when `extend_runs_finished_total{status="FAILED"}` moved); the k-th failure is
detected when the exported sum first reaches k. Latency is bound by the interval: on average half an
interval plus the sync's duration, at most an interval plus the scheduler's jitter (10% of it, at most
10 s) plus the sync. The default 60 s interval is reported analytically from the same model.

Usage: .venv/bin/python -m bench.detection [--intervals 2,5] [--seconds 30]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import urllib.request
from datetime import UTC, datetime
from typing import Any

from bench.common import DEFAULT_KIND_NAMES, emit, exporter_for, free_port, json_arg
from extend_simulator import SimConfig, Simulator
from extend_simulator.config import _default_rates


def failed_on_metrics(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        body: bytes = r.read()
    total = 0.0
    for line in body.split(b"\n"):
        if line.startswith(b"extend_runs_finished_total{") and b'status="FAILED"' in line:
            total += float(line.rsplit(b" ", 1)[1])
    return int(total)


def measure(interval: float, seconds: float) -> dict[str, Any]:
    cfg = SimConfig(
        seed=5,
        history=5_000,
        qps_limit=None,
        epoch=datetime.now(UTC).replace(microsecond=0),
        rates={f: r * 10 for f, r in _default_rates().items()},
        failure_rate=0.3,
        realtime=True,
        speed=1.0,
        tick_seconds=0.01,
    )
    sim = Simulator(cfg)
    sim.start()
    port = free_port()
    exporter = exporter_for(
        sim.url,
        sim.api_key,
        DEFAULT_KIND_NAMES,
        listen_address=f"127.0.0.1:{port}",
        poll_interval_seconds=interval,
    )
    truth_times: list[float] = []  # when the k-th FAILED transition was seen in the simulator
    metric_times: list[float] = []  # when /metrics first showed k FAILED runs
    stop = threading.Event()
    try:
        exporter.start_server()
        exporter.start_scheduler()
        ready_by = time.monotonic() + 30
        while exporter.health.problems() and time.monotonic() < ready_by:
            time.sleep(0.05)  # until every kind has its baseline
        mark = sim.mark()
        start = time.monotonic()
        base = failed_on_metrics(port)

        def watch_truth() -> None:
            while not stop.wait(0.01):
                n = sum(v for k, v in sim.truth.finished_since(mark).items() if k[1] == "FAILED")
                now = time.monotonic()
                while len(truth_times) < n:
                    truth_times.append(now)

        def watch_metrics() -> None:
            while not stop.wait(0.025):
                n = failed_on_metrics(port) - base
                now = time.monotonic()
                while len(metric_times) < n:
                    metric_times.append(now)

        threads = [threading.Thread(target=f, daemon=True) for f in (watch_truth, watch_metrics)]
        for t in threads:
            t.start()
        time.sleep(seconds)
        truth_stop = len(truth_times)
        time.sleep(interval * 1.2 + 2)  # let the exporter catch up with the last failures
        stop.set()
        for t in threads:
            t.join(timeout=5)
        elapsed = time.monotonic() - start
    finally:
        stop.set()
        exporter.stop(deadline_seconds=5)
        sim.stop()
    latencies = sorted(m - t for t, m in zip(truth_times[:truth_stop], metric_times, strict=False))
    n = len(latencies)
    return {
        "interval_s": interval,
        "failures": truth_stop,
        "detected": n,
        "seconds": round(elapsed, 1),
        "mean_s": round(statistics.mean(latencies), 2) if n else None,
        "p50_s": round(statistics.median(latencies), 2) if n else None,
        "p99_s": round(latencies[min(n - 1, int(n * 0.99))], 2) if n else None,
        "max_s": round(latencies[-1], 2) if n else None,
    }


def analytic(interval: float, sync_seconds: float) -> dict[str, float]:
    jitter = min(interval * 0.1, 10.0)
    return {
        "interval_s": interval,
        "mean_s": round(interval / 2 + sync_seconds, 1),
        "max_s": round(interval + jitter + sync_seconds, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--intervals", default="2,5")
    ap.add_argument("--seconds", type=float, default=30.0)
    json_arg(ap)
    args = ap.parse_args()
    measured = [measure(float(i), args.seconds) for i in args.intervals.split(",") if i]
    # The sync's own share: measured mean minus half the interval, at the shortest interval.
    sync_share = max(0.0, (measured[0]["mean_s"] or 0.0) - measured[0]["interval_s"] / 2)
    emit({"measured": measured, "default_analytic": analytic(60.0, sync_share)}, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
