"""The simulator in a process of its own, for benchmarks that must not share a CPU/GIL with it.

Prints one JSON line {"url", "api_key"} once serving; exits by itself after --max-seconds, or as soon
as its stdin closes (the parent went away), whichever comes first.

Usage: .venv/bin/python -m bench.simserver [--history N] [--rate FAMILY=PER_MIN ...] [--speed X]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from datetime import UTC, datetime

from bench.common import ROOT  # noqa: F401  (puts the repository on sys.path)
from extend_simulator import SimConfig, Simulator


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--history", type=int, default=10_000)
    ap.add_argument("--rate", action="append", default=[], metavar="FAMILY=PER_MIN")
    ap.add_argument("--idle", action="store_true", help="no arrivals at all")
    ap.add_argument("--speed", type=float, default=0.0, help="real-clock speed factor; 0 = virtual clock")
    ap.add_argument("--failure-rate", type=float, default=0.05)
    ap.add_argument("--max-seconds", type=float, default=300.0)
    args = ap.parse_args()
    cfg = SimConfig(
        seed=2,
        history=args.history,
        qps_limit=None,
        failure_rate=args.failure_rate,
        realtime=args.speed > 0,
        speed=args.speed or 1.0,
        tick_seconds=0.02,
    )
    if args.speed > 0:  # timestamps near the real now, so the exporter's real clock agrees
        cfg.epoch = datetime.now(UTC).replace(microsecond=0)
    if args.idle:
        cfg.rates = {}
    for spec in args.rate:
        fam, _, per_min = spec.partition("=")
        cfg.rates[fam] = float(per_min)
    sim = Simulator(cfg)
    sim.start()
    print(json.dumps({"url": sim.url, "api_key": sim.api_key}), flush=True)
    done = threading.Event()

    def watch_stdin() -> None:
        sys.stdin.read()
        done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    done.wait(args.max_seconds)
    sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
