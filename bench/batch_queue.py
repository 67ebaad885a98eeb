"""API cost of a draining batch queue: requests per /parse_runs sync while 1,000 queued runs finish.

One simulator: `history` finished parse runs over 30 days, `shared` of all runs named scan.pdf,
invoice.pdf or document.pdf (as real uploads are), parse runs arriving at 12 per minute (they move the
scan window on, past the batch; a few are small batches of their own). After the baseline sync a 1,000-run
parse batch is submitted: its runs wait PENDING for `hold` seconds (past the scan window: 120 s overlap
plus a sync), then start at `drain` runs per second and finish after parse's usual processing time.
The exporter syncs parse_run every `poll` virtual seconds (default settings otherwise) until every
run finished and one more sync. Counted: requests the simulator answered per sync, while held and
while draining (mean and max), whether created, finished and active counts equal the truth, and
whether the batch families of parse_run (finished, active) do. Each active batch adds one
`/batch_runs/{id}` read per sync (the workload's own small batches included).

Usage: .venv/bin/python -m bench.batch_queue [--history 20000] [--shared 0.4] [--drain 8] [--poll 5]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from typing import Any

from bench.common import emit, json_arg, make_exporter
from extend_simulator import SimConfig, Simulator

BATCH = 1000
HOLD = 300.0
ARRIVALS_PER_MIN = 12.0


def _exact(exporter: Any, sim: Simulator, mark: int) -> bool:
    snap = exporter.states["parse_run"].snapshot()
    created = {("parse_run", *k): v for k, v in snap.created.items() if v}
    finished = {("parse_run", *k): v for k, v in snap.finished.items() if v}
    active = {("parse_run", *k): v for k, v in snap.active.items() if v}
    truth_active = {k: v for k, v in sim.truth.active().items() if k[0] == "parse_run"}
    return (
        created == sim.truth.created_since(mark)
        and finished == {k: v for k, v in sim.truth.finished_since(mark).items() if k[0] == "parse_run"}
        and active == truth_active
    )


def _batches_exact(exporter: Any, sim: Simulator, mark: int) -> bool:
    """extend_batches_finished_total and extend_batches_active of parse_run equal the truth."""
    snap, _ = exporter.workspace.batches.snapshot()
    finished = {k: v for k, v in snap.finished.items() if v and k[0] == "parse_run"}
    active = {k: v for k, v in snap.active.items() if v and k[0] == "parse_run"}
    truth_finished = {k: v for k, v in sim.truth.batches_finished_since(mark).items() if k[0] == "parse_run"}
    truth_active = {k: v for k, v in sim.truth.batches_active().items() if k[0] == "parse_run"}
    return finished == truth_finished and active == truth_active


def measure(history: int, shared: float, drain: float, poll: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    sim = Simulator(
        SimConfig(
            seed=2,
            history={"parse": history},
            rates={"parse": ARRIVALS_PER_MIN},
            shared_file_names=shared,
            qps_limit=None,
        )
    )
    sim.start()
    try:
        exporter = make_exporter(sim, ("parse_run",), poll_interval_seconds=poll)

        def sync() -> int:
            before = sum(sim.truth.requests().values())
            if not exporter.sync_kind("parse_run"):
                raise RuntimeError("the parse_run sync failed")
            return sum(sim.truth.requests().values()) - before

        sync()  # baseline
        mark = sim.mark()
        bid = sim.submit_batch("parse", BATCH, hold_seconds=HOLD, drain_per_second=drain)
        held: list[int] = []
        draining: list[int] = []
        departures: list[int] = []
        while True:
            pending_before = sim.batch_members(bid).get("PENDING", 0)
            sim.advance(poll)
            done = sum(n for s, n in sim.batch_members(bid).items() if s in ("PROCESSED", "FAILED"))
            spent = sync()
            if pending_before == BATCH and sim.batch_members(bid).get("PENDING", 0) == BATCH:
                held.append(spent)
            elif done < BATCH or not draining:
                draining.append(spent)
                departures.append(done)
            if done == BATCH:
                break
        sim.advance(poll)
        final = sync()
        exact = _exact(exporter, sim, mark)
        batches_exact = _batches_exact(exporter, sim, mark)
        per_sync_done = [b - a for a, b in zip([0, *departures], departures, strict=False)]
        exporter.client.close()
        by_endpoint = Counter(sim.truth.requests())
    finally:
        sim.stop()
    return {
        "history": history,
        "shared_file_names": shared,
        "batch_runs": BATCH,
        "arrivals_per_min": ARRIVALS_PER_MIN,
        "drain_runs_per_s": drain,
        "poll_s": poll,
        "held_syncs": len(held),
        "held_requests_per_sync": round(sum(held) / max(1, len(held)), 2),
        "draining_syncs": len(draining),
        "draining_requests_per_sync": round(sum(draining) / max(1, len(draining)), 2),
        "draining_requests_per_sync_max": max(draining, default=0),
        "runs_finished_per_sync": round(sum(per_sync_done) / max(1, len(per_sync_done)), 1),
        "final_sync_requests": final,
        "requests_by_endpoint": dict(sorted(by_endpoint.items())),
        "exact": exact,
        "batches_exact": batches_exact,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--history", type=int, default=20_000)
    ap.add_argument("--shared", type=float, default=0.4)
    ap.add_argument("--drain", type=float, default=8.0)
    ap.add_argument("--poll", type=float, default=5.0)
    json_arg(ap)
    args = ap.parse_args()
    emit(measure(args.history, args.shared, args.drain, args.poll), args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
