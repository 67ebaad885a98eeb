"""API requests per sync, idle and busy, against a naive exporter that pages through everything.

One simulator per workspace size (historical runs), every default kind (the seven 2026-02-09 kinds),
default sync settings (poll interval 60 s, overlap 120 s, reconcile every 900 s, pages of 1000). The
exporter runs in-process on the simulator's virtual clock, so a 900 s reconcile cycle takes seconds:

* idle: no new runs. After the baseline sync, 15 syncs 60 virtual seconds apart (one reconcile
  cycle: the 15th sync reconciles); every request the simulator answered is counted.
* busy: the same, with the arrival rates scaled to `--busy-runs-per-min` new runs per minute in
  total (each run is also started and finished: at least twice as many changes), after two warm-up
  syncs at that rate.
* naive: an exporter that lists every run of every kind each sync (1000 per page), the cheapest way
  to the same labels without a sync position: summaries carry no source (verify's do), so the other
  kinds with a `source` filter are listed once per source value. Measured once per size by paging
  through all of it on the idle workspace; for the busy phase it is computed from the run counts with
  the same formula (which the idle measurement checks).

req/s is amortised over the reconcile cycle: (requests of 15 syncs incl. one reconcile) / 900 s.

This is a cost-per-sync measurement on the simulator's virtual clock with the request budget raised to
100 req/s (nothing waits), not a timing one: for the real clock and the real 2 req/s budget see
bench/busy.py. After the idle cycle and again after the busy cycle, every created/finished/active
series of every kind is compared with the simulator's truth since before the exporter started; a
workspace whose counts differ fails its rows (exit 1): an exporter that skipped work would not score.

Usage: .venv/bin/python -m bench.api_cost [--sizes 10000,100000,1000000] [--busy-runs-per-min 1000]
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from typing import Any

import httpx
import orjson

from bench.attribution import mismatches
from bench.common import DEFAULT_KIND_NAMES, PAYG_QUOTA_RPS, emit, json_arg, make_exporter
from exporter.app import Exporter
from exporter.kinds import API_2026, KINDS
from extend_simulator import SimConfig, Simulator
from extend_simulator.config import _default_rates

POLL = 60.0
RECONCILE = 900.0
CYCLE = int(RECONCILE // POLL)  # syncs per reconcile cycle


def total_requests(sim: Simulator) -> int:
    return sum(sim.truth.requests().values())


def cycle(sim: Simulator, exporter: Exporter) -> dict[str, Any]:
    """15 syncs 60 s apart; request counts per sync (the reconcile sync separately)."""
    per_sync: list[int] = []
    reconcile_syncs: list[int] = []
    syncer = exporter.syncers[exporter.kinds[0]]
    for _ in range(CYCLE):
        sim.advance(POLL)
        before = total_requests(sim)
        reconciled = sim.now().timestamp() - syncer._last_reconcile >= RECONCILE
        for kind in exporter.kinds:
            if not exporter.sync_kind(kind):
                raise RuntimeError(f"sync of {kind} failed")
        spent = total_requests(sim) - before
        (reconcile_syncs if reconciled else per_sync).append(spent)
    total = sum(per_sync) + sum(reconcile_syncs)
    return {
        "syncs": CYCLE,
        "requests": total,
        "per_sync_mean": round(total / CYCLE, 2),
        "per_sync_plain_max": max(per_sync, default=0),
        "per_sync_plain_mean": round(sum(per_sync) / max(1, len(per_sync)), 2),
        "reconcile_sync": reconcile_syncs[0] if reconcile_syncs else None,
        "req_per_s": round(total / RECONCILE, 4),
        "quota_percent": round(100 * total / RECONCILE / PAYG_QUOTA_RPS, 2),
    }


def naive_listings() -> list[tuple[str, str | None]]:
    """(kind, source filter) of every listing a naive sync pages through."""
    return [(k, s) for k in DEFAULT_KIND_NAMES for s in (_filtered_sources(k) or (None,))]


def _filtered_sources(kind: str) -> tuple[str, ...]:
    spec = KINDS[kind]
    return () if spec.source_in_summary else spec.sources


def runs_per_listing(sim: Simulator) -> dict[tuple[str, str | None], int]:
    fam_kind = {KINDS[k].path[1:].removesuffix("_runs"): k for k in DEFAULT_KIND_NAMES}
    counts = Counter(
        (kind, run.source if _filtered_sources(kind) else None)
        for run in sim.runs()
        for kind in (fam_kind[run.fam],)
    )
    return {key: counts.get(key, 0) for key in naive_listings()}


def naive_formula(counts: dict[tuple[str, str | None], int], page: int = 1000) -> int:
    return sum(max(1, math.ceil(n / page)) for n in counts.values())


def naive_sync(sim: Simulator, page: int = 1000) -> int:
    """Page through every listing a naive exporter reads each sync; the requests it took."""
    before = total_requests(sim)
    headers = {"Authorization": f"Bearer {sim.api_key}", "x-extend-api-version": API_2026}
    with httpx.Client(base_url=sim.url, headers=headers, timeout=60) as client:
        for kind, source in naive_listings():
            params: dict[str, Any] = {"maxPageSize": page}
            if source is not None:
                params["source"] = source
            while True:
                r = client.get(KINDS[kind].path, params=params)
                r.raise_for_status()
                token = orjson.loads(r.content).get("nextPageToken")
                if not token:
                    break
                params["nextPageToken"] = token
    return total_requests(sim) - before


def measure(history: int, busy_per_min: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    sim = Simulator(SimConfig(seed=1, history=history, rates={}, qps_limit=None))
    sim.start()
    build = time.perf_counter() - t0
    try:
        counts_mark = sim.mark()
        exporter = make_exporter(sim)
        before = total_requests(sim)
        for kind in exporter.kinds:
            assert exporter.sync_kind(kind), kind
        baseline = total_requests(sim) - before
        idle = cycle(sim, exporter)
        wrong_idle = mismatches(exporter, sim, counts_mark)
        counts = runs_per_listing(sim)
        naive_idle = naive_sync(sim)
        formula_ok = naive_idle == naive_formula(counts)

        # Arrival rates in the default proportions; batches and workflow-spawned runs add to the
        # nominal rate, so one warm-up minute calibrates the scale to the runs actually created.
        defaults = _default_rates()
        scale = busy_per_min / sum(defaults.values())
        for calibrate in (True, False, False):
            for fam, rate in defaults.items():
                sim.set_rate(fam, rate * scale)
            mark = sim.mark()
            sim.advance(POLL)
            for kind in exporter.kinds:
                assert exporter.sync_kind(kind), kind
            if calibrate:
                created = sum(
                    v for (k, *_), v in sim.truth.created_since(mark).items() if k in exporter.kinds
                )
                scale *= busy_per_min / max(1, created)
        mark = sim.mark()
        busy = cycle(sim, exporter)
        minutes = CYCLE * POLL / 60
        created = sum(v for (k, *_), v in sim.truth.created_since(mark).items() if k in exporter.kinds)
        finished = sum(v for (k, *_), v in sim.truth.finished_since(mark).items() if k in exporter.kinds)
        busy["runs_created_per_min"] = round(created / minutes)
        busy["runs_finished_per_min"] = round(finished / minutes)
        wrong_busy = mismatches(exporter, sim, counts_mark)
        naive_busy = naive_formula(runs_per_listing(sim))
        exporter.client.close()
    finally:
        sim.stop()
    return {
        "history": history,
        "simulator_build_s": round(build, 1),
        "baseline_sync_requests": baseline,
        "idle": idle,
        "busy": busy,
        "counts_exact_idle": not wrong_idle,
        "counts_exact_busy": not wrong_busy,
        "mismatches": wrong_idle + wrong_busy,
        "naive_idle_per_sync": naive_idle,
        "naive_formula_matches": formula_ok,
        "naive_busy_per_sync": naive_busy,
        "naive_idle_req_per_s": round(naive_idle / POLL, 2),
        "ratio_idle": round(naive_idle / idle["per_sync_mean"], 1),
        "ratio_busy": round(naive_busy / busy["per_sync_mean"], 1),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--busy-runs-per-min", type=float, default=1000.0)
    json_arg(ap)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    results = {
        "kinds": list(DEFAULT_KIND_NAMES),
        "poll_interval_s": POLL,
        "reconcile_interval_s": RECONCILE,
        "busy_runs_per_min": args.busy_runs_per_min,
        "workspaces": [measure(n, args.busy_runs_per_min) for n in sizes],
    }
    emit(results, args.json)
    ok = all(w["counts_exact_idle"] and w["counts_exact_busy"] for w in results["workspaces"])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
