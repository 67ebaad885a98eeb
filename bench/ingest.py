"""Ingest throughput: run summaries per second from raw response bytes to updated counters, one core.

Pages of 1000 summaries are captured once from the simulator (every default kind, its real JSON
shapes), then replayed through the exporter's own code path without a network: the ApiClient (over an
httpx.MockTransport that returns the captured bytes: orjson parse, envelope checks, telemetry), the
syncer's page reader (summary -> Observation), the merge of a sync and `KindState.apply`. Every
summary is new to the state and counts (created, and finished when terminal), the costliest path.
cProfile of the same loop says where the time goes. The timing is also given as a ratio to a
baseline measured in the same run: a plain `orjson.loads` and a plain `json.loads` of the same pages,
interleaved with the ingest in each of `--repeat` runs (min/median/max of the per-run ratios), so a
slower or busier machine moves the absolute figure but not the ratio much.

Usage: .venv/bin/python -m bench.ingest [--history 120000] [--pages 20] [--profile bench/profiles/ingest.txt]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import pstats
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.common import DEFAULT_KIND_NAMES, emit, json_arg
from exporter.api.client import ApiClient
from exporter.api.ratelimit import RequestBudget
from exporter.api.session import Session
from exporter.engine.kind_state import KindState, Observation
from exporter.kinds import API_2026, KINDS, KindSpec
from exporter.metrics.telemetry import Telemetry, WorkspaceTelemetry
from exporter.sync import KindSyncer, SyncSettings, summaries
from exporter.sync.listings import merge
from extend_simulator import SimConfig, Simulator

Pages = dict[str, list[bytes]]


def capture(history: int, pages: int) -> tuple[Pages, dict[str, dict[str, str]]]:
    """Up to `pages` pages of 1000 summaries per default kind, and every run's source."""
    sim = Simulator(SimConfig(seed=3, history=history, qps_limit=None))
    sim.start()
    out: Pages = {}
    sources: dict[str, dict[str, str]] = {}
    try:
        headers = {"Authorization": f"Bearer {sim.api_key}", "x-extend-api-version": API_2026}
        with httpx.Client(base_url=sim.url, headers=headers, timeout=60) as client:
            for kind in DEFAULT_KIND_NAMES:
                spec = KINDS[kind]
                params: dict[str, Any] = {"maxPageSize": 1000}
                if spec.sortable:
                    params |= {"sortBy": "updatedAt", "sortDir": "desc"}
                out[kind] = []
                while len(out[kind]) < pages:
                    r = client.get(spec.path, params=params)
                    r.raise_for_status()
                    out[kind].append(r.content)
                    token = orjson.loads(r.content).get("nextPageToken")
                    if not token:
                        break
                    params["nextPageToken"] = token
        for run in sim.runs():
            kind = next(k for k in DEFAULT_KIND_NAMES if KINDS[k].path.startswith(f"/{run.fam}"))
            sources.setdefault(kind, {})[sim.run_id_of(run)] = run.source or ""
    finally:
        sim.stop()
    return out, sources


def make_client(kind: str, pages: list[bytes]) -> ApiClient:
    served = iter(range(1 << 62))

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=pages[next(served) % len(pages)])

    endpoints = (KINDS[kind].path,)
    session = Session("http://bench.invalid", Telemetry(endpoints), transport=httpx.MockTransport(handler))
    return ApiClient(
        session,
        lambda: "sk_bench",
        api_version=API_2026,
        workspace_id=None,
        budget=RequestBudget(1e9),
        telemetry=WorkspaceTelemetry((kind,), API_2026, endpoints),
    )


def ingest(spec: KindSpec, client: ApiClient, n_pages: int, sources: dict[str, str]) -> tuple[int, KindState]:
    """One sync's worth of pages into a fresh state that counts every run as new.

    The timestamp cache of exporter.sync.summaries is emptied first: every summary is parsed cold, as if
    never seen before (the worst case; re-reads within the overlap window hit the cache).
    """
    summaries._TIMES.clear()
    state = KindState(spec)
    state.position = state.window = 0.0  # after a baseline at the epoch: everything is new
    syncer = KindSyncer(state, client, SyncSettings())
    seen: dict[str, Observation] = {}
    pages = syncer.listings.pages({"maxPageSize": 1000})
    for _ in range(n_pages):
        for obs in next(pages):
            merge(seen, obs)
    needed = {rid: sources.get(rid, "") for rid in seen} if spec.sources else {}
    top = max((o.updated_at for o in seen.values()), default=0.0)
    state.apply(seen.values(), needed, overlap=120.0, new_position=top, reconciled=None)
    return len(seen), state


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def phases(captured: Pages, sources: dict[str, dict[str, str]]) -> dict[str, float]:
    """Seconds per phase over all captured pages (each phase run separately, best of 3)."""
    parsed: dict[str, list[list[dict[str, Any]]]] = {}
    out: dict[str, float] = {}

    clients = {kind: make_client(kind, pages) for kind, pages in captured.items()}

    def do_parse() -> None:
        for kind, pages in captured.items():
            for _ in pages:
                clients[kind].list_page(KINDS[kind], {"maxPageSize": 1000})

    for kind, pages in captured.items():
        parsed[kind] = [clients[kind].list_page(KINDS[kind], {"maxPageSize": 1000}).items for _ in pages]

    def do_orjson() -> None:
        for pages in captured.values():
            for raw in pages:
                orjson.loads(raw)

    observations: dict[str, list[Observation]] = {}

    def do_observe() -> None:
        summaries._TIMES.clear()
        for kind, pages in parsed.items():
            spec = KINDS[kind]
            observations[kind] = [summaries.observation(spec, item) for page in pages for item in page]

    def do_apply() -> None:
        for kind, items in observations.items():
            state = KindState(KINDS[kind])
            state.position = state.window = 0.0
            seen: dict[str, Observation] = {}
            for obs in items:
                merge(seen, obs)
            srcs = sources.get(kind, {})
            needed = {rid: srcs.get(rid, "") for rid in seen} if KINDS[kind].sources else {}
            state.apply(seen.values(), needed, overlap=120.0, new_position=1e10)

    for name, fn in (
        ("orjson.loads", do_orjson),
        ("http client + page parse (incl. orjson)", do_parse),
        ("summary -> Observation", do_observe),
        ("merge + KindState.apply", do_apply),
    ):
        out[name] = min(timed(fn) for _ in range(3))
    return out


def baseline_ratios(captured: Pages, run_all: Callable[[], int], repeat: int) -> dict[str, dict[str, float]]:
    """Ingest time over a plain `orjson.loads` / `json.loads` of the same pages, interleaved in each of
    `repeat` runs (so machine load hits both alike): min/median/max of the per-run ratios."""
    raws = [raw for pages in captured.values() for raw in pages]
    out: dict[str, list[float]] = {"orjson": [], "json": []}

    def decode_all(loads: Callable[[bytes], Any]) -> None:
        for raw in raws:  # one page alive at a time, as in the ingest (keeping all makes GC the cost)
            loads(raw)

    for _ in range(repeat):
        t_ingest = timed(run_all)
        t_orjson = timed(lambda: decode_all(orjson.loads))
        t_json = timed(lambda: decode_all(json.loads))
        out["orjson"].append(t_ingest / t_orjson)
        out["json"].append(t_ingest / t_json)
    return {
        k: {"min": round(min(v), 2), "median": round(statistics.median(v), 2), "max": round(max(v), 2)}
        for k, v in out.items()
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--history", type=int, default=120_000)
    ap.add_argument("--pages", type=int, default=20, help="pages of 1000 per kind")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", type=Path, default=None, help="write the cProfile top functions here")
    json_arg(ap)
    args = ap.parse_args()

    captured, sources = capture(args.history, args.pages)
    # The benchmark's own long-lived data (captured pages, the source map) must not make the garbage
    # collector's full passes costlier than in an exporter, whose long-lived heap is small.
    gc.collect()
    gc.freeze()
    total_bytes = sum(len(p) for pages in captured.values() for p in pages)

    def run_all() -> int:
        n = 0
        for kind, pages in captured.items():
            count, _ = ingest(KINDS[kind], make_client(kind, pages), len(pages), sources.get(kind, {}))
            n += count
        return n

    summaries = run_all()  # warm-up
    per_kind: dict[str, float] = {}
    for kind, pages in captured.items():
        spec, srcs = KINDS[kind], sources.get(kind, {})
        best = min(
            timed(lambda: ingest(spec, make_client(kind, pages), len(pages), srcs))  # noqa: B023
            for _ in range(args.repeat)
        )
        per_kind[kind] = round(len(pages) * 1000 / best)
    best_all = min(timed(run_all) for _ in range(args.repeat))
    ratios = baseline_ratios(captured, run_all, args.repeat)
    phase_s = phases(captured, sources)

    profile = cProfile.Profile()
    profile.enable()
    run_all()
    profile.disable()
    buf = io.StringIO()
    stats = pstats.Stats(profile, stream=buf).strip_dirs().sort_stats("tottime")
    stats.print_stats(15)
    top = _top_functions(stats, 8)
    if args.profile:
        args.profile.parent.mkdir(parents=True, exist_ok=True)
        args.profile.write_text(buf.getvalue())

    results: dict[str, Any] = {
        "summaries": summaries,
        "bytes": total_bytes,
        "bytes_per_summary": round(total_bytes / summaries),
        "summaries_per_second": round(summaries / best_all),
        "mb_per_second": round(total_bytes / best_all / 1e6, 1),
        "per_kind_summaries_per_second": per_kind,
        "ratio_runs": args.repeat,
        "vs_orjson_loads": ratios["orjson"],
        "vs_json_loads": ratios["json"],
        "phase_us_per_summary": {k: round(v / summaries * 1e6, 2) for k, v in phase_s.items()},
        "profile_top_tottime_percent": top,
    }
    emit(results, args.json)
    return 0


def _top_functions(stats: pstats.Stats, n: int) -> dict[str, float]:
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values()) or 1.0
    ranked = sorted(raw.items(), key=lambda kv: -kv[1][2])[:n]
    return {f"{fn}:{line}({name})": round(100 * v[2] / total, 1) for (fn, line, name), v in ranked}


if __name__ == "__main__":
    raise SystemExit(main())
