"""Simulator benchmark: build time and RSS of a large history, page latency over HTTP.

Usage: .venv/bin/python bench/simulator_bench.py [--history 1000000] [--requests 50] [--json bench/sim.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from extend_simulator import SimConfig, Simulator


def _proc_status(field: str) -> float:
    """VmRSS / VmHWM in MiB from /proc/self/status (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def _latency(c: httpx.Client, path: str, params: dict[str, Any], n: int) -> dict[str, float]:
    samples = []
    items = 0
    for _ in range(n):
        t0 = time.perf_counter()
        r = c.get(path, params=params)
        body = r.content
        samples.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.text[:200]
    obj = json.loads(body)
    items = len(obj.get("data", obj.get("processorRuns", obj.get("workflowRuns", []))))
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 2),
        "items": items,
        "bytes": len(body),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--history", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    rss0 = _proc_status("VmRSS")
    t0 = time.perf_counter()
    sim = Simulator(SimConfig(seed=1, history=args.history, qps_limit=None))
    build_s = time.perf_counter() - t0
    results: dict[str, Any] = {
        "history": args.history,
        "runs": len(sim.world.runs),
        "build_seconds": round(build_s, 2),
        "rss_before_mib": round(rss0, 1),
        "rss_after_build_mib": round(_proc_status("VmRSS"), 1),
        "peak_rss_mib": round(_proc_status("VmHWM"), 1),
    }
    sim.start()
    try:
        headers = {"Authorization": f"Bearer {sim.api_key}", "x-extend-api-version": "2026-02-09"}
        with httpx.Client(base_url=sim.url, headers=headers, timeout=30) as c:
            n = args.requests
            n_proc = len(sim.world.index("processor", None, None, "updatedAt"))
            deep_offset = sim.codec.encode(f"o:{n_proc // 2}")
            n_ex = len(sim.world.index("extract", None, None, "updatedAt"))
            deep_ex = sim.codec.encode(f"o:{n_ex // 2}")
            cases: dict[str, tuple[str, dict[str, Any]]] = {
                "processor_runs_first_1000": ("/processor_runs", {"maxPageSize": 1000}),
                "processor_runs_deep_1000": (
                    "/processor_runs",
                    {"maxPageSize": 1000, "nextPageToken": deep_offset},
                ),
                "extract_runs_first_1000": ("/extract_runs", {"maxPageSize": 1000}),
                "extract_runs_deep_1000": ("/extract_runs", {"maxPageSize": 1000, "nextPageToken": deep_ex}),
                "workflow_runs_first_1000": ("/workflow_runs", {"maxPageSize": 1000}),
                "extract_status_source_1000": (
                    "/extract_runs",
                    {"maxPageSize": 1000, "status": "PROCESSED", "source": "API"},
                ),
                "extract_created_asc_1000": (
                    "/extract_runs",
                    {"maxPageSize": 1000, "sortBy": "createdAt", "sortDir": "asc"},
                ),
                "parse_runs_first_1000": ("/parse_runs", {"maxPageSize": 1000}),
                "extract_runs_first_10": ("/extract_runs", {}),
            }
            results["latency"] = {name: _latency(c, p, params, n) for name, (p, params) in cases.items()}
        t1 = time.perf_counter()
        sim.advance(3600)
        results["advance_1h_seconds"] = round(time.perf_counter() - t1, 3)
    finally:
        sim.stop()
    results["rss_end_mib"] = round(_proc_status("VmRSS"), 1)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
