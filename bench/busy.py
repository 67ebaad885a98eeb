"""A busy exporter process on a real clock with the real default budget: syncs, requests, peak RSS.

A real-clock simulator in a child process (arrivals at `--runs-per-min` nominal in the default mix,
10k history) and the real `python -m exporter run` process with default settings except the poll
interval. After `--seconds` it reads the exporter's /metrics and /proc/<pid>/status: syncs per kind per
minute (against 60 / interval), requests/s against the 2.0 budget, seconds waited for the budget per
minute, the largest actual sync interval, and peak RSS (VmHWM). `--root` runs another tree's exporter
(e.g. a checkout of the previous commit, for before/after) against this tree's simulator.

Usage: .venv/bin/python -m bench.busy [--runs-per-min 1000] [--interval 15] [--seconds 180]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import ROOT, emit, free_port, json_arg, sim_process
from exporter.simulator.config import _default_rates


def metrics(port: int) -> dict[str, float]:
    """Sample name with labels -> value (only the families this bench reads)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(
            (
                "extend_syncs_total",
                "extend_api_requests_total",
                "extend_sync_interval",
                "extend_exporter_request_budget",
            )
        ):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def measure(per_min: float, interval: float, seconds: float, root: Path) -> dict[str, Any]:
    scale = per_min / sum(_default_rates().values())
    rates = [f"--rate={fam}={rate * scale}" for fam, rate in _default_rates().items()]
    with sim_process("--speed", "1", *rates, max_seconds=seconds + 120) as sim:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("EXTEND_")}
        env.update(
            EXTEND_API_KEY=sim["api_key"],
            EXTEND_API_BASE_URL=sim["url"],
            EXTEND_EXPORTER_LISTEN_ADDRESS=f"127.0.0.1:{port}",
            EXTEND_EXPORTER_POLL_INTERVAL_SECONDS=str(interval),
            EXTEND_EXPORTER_LOG_LEVEL="warning",
            PYTHONPATH=str(root),
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "exporter", "run"], env=env, cwd=root, stdout=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    first = metrics(port)
                    if (
                        sum(
                            v
                            for k, v in first.items()
                            if k.startswith("extend_syncs_total") and "success" in k
                        )
                        >= 6
                    ):
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the exporter never finished its first syncs")
                time.sleep(0.5)
            t0 = time.monotonic()
            widest = 0.0
            while time.monotonic() - t0 < seconds:
                time.sleep(5)
                widest = max(
                    [
                        widest,
                        *(
                            v
                            for k, v in metrics(port).items()
                            if k.startswith("extend_sync_interval_seconds")
                        ),
                    ]
                )
            last = metrics(port)
            took = time.monotonic() - t0
            rss = peak_rss_mib(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    def delta(prefix: str, must: str = "") -> float:
        return sum(v - first.get(k, 0.0) for k, v in last.items() if k.startswith(prefix) and must in k)

    minutes = took / 60
    syncs = delta("extend_syncs_total", "success")
    return {
        "nominal_runs_per_min": per_min,
        "interval_s": interval,
        "seconds": round(took),
        "syncs_per_kind_per_min": round(syncs / 6 / minutes, 2),
        "target_syncs_per_kind_per_min": round(60 / interval, 2),
        "failed_syncs": delta("extend_syncs_total", "failure"),
        "requests_per_s": round(delta("extend_api_requests_total") / took, 2),
        "budget_wait_s_per_min": round(
            delta("extend_exporter_request_budget_wait_seconds_total") / minutes, 1
        ),
        "widest_sync_interval_s": round(widest, 1),
        "peak_rss_mib": rss,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs-per-min", type=float, default=1000.0)
    ap.add_argument("--interval", type=float, default=15.0)
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--root", type=Path, default=ROOT)
    json_arg(ap)
    args = ap.parse_args()
    emit(measure(args.runs_per_min, args.interval, args.seconds, args.root.resolve()), args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
