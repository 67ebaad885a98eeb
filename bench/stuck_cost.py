"""Idle sync cost with long-stuck runs of every kind, by history size per kind.

One simulator per size: `size` finished runs of every family over 30 days plus 5 long-stuck runs per
family (created 3-4 weeks ago and left PENDING/PROCESSING; half of the parse ones are batch runs left
PENDING for hours), no arrivals. Every default kind, default sync settings. After the baseline sync,
15 syncs 60 virtual seconds apart (the 15th reconciles). Counted: requests the simulator answered and
response body bytes the exporter received, per plain idle sync (mean) and on the reconcile sync.

Usage: .venv/bin/python -m bench.stuck_cost [--sizes 10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import httpx

from bench.common import DEFAULT_KIND_NAMES, emit, json_arg, make_exporter
from extend_simulator import SimConfig, Simulator
from extend_simulator.enums import FAMILIES

POLL = 60.0
CYCLE = 15
STUCK = 5


def measure(history: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    sim = Simulator(
        SimConfig(
            seed=1,
            history=dict.fromkeys(FAMILIES, history),
            rates={},
            touch_rate=0.0,
            stuck_runs=STUCK,
            qps_limit=None,
        )
    )
    sim.start()
    build = time.perf_counter() - t0
    received = [0]

    def count(response: httpx.Response) -> None:
        response.read()
        received[0] += len(response.content)

    try:
        exporter = make_exporter(sim)
        exporter.client._session._http.event_hooks["response"].append(count)

        def one_sync() -> tuple[int, int, int]:
            req0, bytes0 = sum(sim.truth.requests().values()), received[0]
            parse0 = sim.truth.requests().get("/parse_runs", 0)
            for kind in exporter.kinds:
                if not exporter.sync_kind(kind):
                    raise RuntimeError(f"sync of {kind} failed")
            reqs = sum(sim.truth.requests().values()) - req0
            return reqs, received[0] - bytes0, sim.truth.requests().get("/parse_runs", 0) - parse0

        baseline = one_sync()
        plain: list[tuple[int, int, int]] = []
        reconcile: tuple[int, int, int] | None = None
        syncer = exporter.syncers[exporter.kinds[0]]
        for _ in range(CYCLE):
            sim.advance(POLL)
            due = sim.now().timestamp() - syncer._last_reconcile >= syncer.settings.reconcile_interval_seconds
            spent = one_sync()
            if due:
                reconcile = spent
            else:
                plain.append(spent)
        exporter.client.close()
    finally:
        sim.stop()
    n = max(1, len(plain))
    return {
        "history_per_kind": history,
        "stuck_per_kind": STUCK,
        "simulator_build_s": round(build, 1),
        "baseline_requests": baseline[0],
        "baseline_bytes": baseline[1],
        "idle_requests_per_sync": round(sum(p[0] for p in plain) / n, 2),
        "idle_requests_per_sync_max": max((p[0] for p in plain), default=0),
        "idle_parse_requests_per_sync": round(sum(p[2] for p in plain) / n, 2),
        "idle_bytes_per_sync": round(sum(p[1] for p in plain) / n),
        "reconcile_requests": reconcile[0] if reconcile else None,
        "reconcile_bytes": reconcile[1] if reconcile else None,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    json_arg(ap)
    args = ap.parse_args()
    results = {
        "kinds": list(DEFAULT_KIND_NAMES),
        "workspaces": [measure(int(s)) for s in args.sizes.split(",") if s],
    }
    emit(results, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
