"""Bytes, requests and sync-thread CPU per sync round by query type, busy, with counts checked.

An in-process simulator on its virtual clock (so request counts and bytes are exact and repeatable;
CPU is the syncing thread's own time, noisy on a shared machine). Every kind syncs every `--interval`
virtual seconds at `--runs-per-min` new runs per minute in the default proportions; after the
measured rounds every counter and gauge is compared with the simulator's truth, and the row fails
(exit 1) if any differs.

Query types (bench.common.query_type): `scan` (the ordered listing, its re-reads and file-name
lookups), `reconcile` (status-filtered), `attribution` (source-filtered listings that find the source
of new runs), `batches` (a tracked batch's status, its runs by `batchId`).

Usage: .venv/bin/python -m bench.attribution [--runs-per-min 1000] [--intervals 15,60] [--rounds 16]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from typing import Any

import httpx

from bench.common import emit, json_arg, make_exporter, query_type
from extend_simulator import SimConfig, Simulator
from extend_simulator.config import _default_rates


def mismatches(exporter: Any, sim: Simulator, mark: int) -> list[str]:
    """Every (kind, metric) whose counts differ from the simulator's truth since `mark`."""

    def nonzero(d: dict[Any, Any]) -> dict[Any, Any]:
        return {k: v for k, v in d.items() if v}

    created, finished, active = (
        sim.truth.created_since(mark),
        sim.truth.finished_since(mark),
        sim.truth.active(),
    )
    wrong = []
    for kind in exporter.kinds:
        snap = exporter.states[kind].snapshot()
        for name, ours, theirs in (
            ("created", snap.created, created),
            ("finished", snap.finished, finished),
            ("active", snap.active, active),
        ):
            mine = nonzero({(kind, *k): v for k, v in ours.items()})
            truth = nonzero({k: v for k, v in theirs.items() if k[0] == kind})
            if mine != truth:
                wrong.append(f"{kind}:{name}")
    return wrong


def measure(history: int, per_min: float, interval: float, rounds: int) -> dict[str, Any]:
    sim = Simulator(SimConfig(seed=3, history=history, rates={}, qps_limit=None))
    sim.start()
    try:
        mark = sim.mark()
        exporter = make_exporter(sim)
        requests: Counter[str] = Counter()
        nbytes: Counter[str] = Counter()
        counting = [False]

        def on_response(response: httpx.Response) -> None:
            if counting[0]:
                response.read()
                kind = query_type(response.request.url.path, response.request.url.params.keys())
                requests[kind] += 1
                nbytes[kind] += len(response.content)

        exporter.client._session._http.event_hooks["response"].append(on_response)
        for kind in exporter.kinds:
            assert exporter.sync_kind(kind), kind
        defaults = _default_rates()
        scale = per_min / sum(defaults.values())
        for fam, rate in defaults.items():
            sim.set_rate(fam, rate * scale)
        for _ in range(3):  # warm-up: the scan and attribution settle on the busy rate
            sim.advance(interval)
            for kind in exporter.kinds:
                assert exporter.sync_kind(kind), kind
        counting[0] = True
        rate_mark = sim.mark()
        cpu = 0.0
        for _ in range(rounds):
            sim.advance(interval)
            started = time.thread_time()
            for kind in exporter.kinds:
                assert exporter.sync_kind(kind), kind
            cpu += time.thread_time() - started
        created = sum(sim.truth.created_since(rate_mark).values())
        wrong = mismatches(exporter, sim, mark)
        exporter.client.close()
    finally:
        sim.stop()
    minutes = rounds * interval / 60
    return {
        "history": history,
        "nominal_runs_per_min": per_min,
        "runs_per_min": round(created / minutes),
        "interval_s": interval,
        "rounds": rounds,
        "requests_per_round": {k: round(v / rounds, 2) for k, v in sorted(requests.items())},
        "kib_per_round": {k: round(v / rounds / 1024, 1) for k, v in sorted(nbytes.items())},
        "sync_cpu_s_per_round": round(cpu / rounds, 3),
        "counts_exact": not wrong,
        "mismatches": wrong,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--history", type=int, default=10000)
    ap.add_argument("--runs-per-min", default="100,1000")
    ap.add_argument("--intervals", default="15,60", help="seconds between sync rounds, comma list")
    ap.add_argument("--rounds", type=int, default=16)
    json_arg(ap)
    args = ap.parse_args()
    rows = [
        measure(args.history, float(r), float(i), args.rounds)
        for i in args.intervals.split(",")
        if i
        for r in args.runs_per_min.split(",")
        if r
    ]
    emit({"rows": rows}, args.json)
    return 0 if all(r["counts_exact"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
