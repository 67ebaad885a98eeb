"""Memory: RSS of an idle exporter, and bytes per tracked run with 100k and 1M runs tracked.

Each figure is taken in a fresh child process (`--child ...`), so nothing measured earlier inflates it:

* idle: the real `extend-exporter run` process (every default kind, default settings except a 2 s
  poll interval so that it syncs a few times quickly) against an idle simulator with 10k historical
  runs in another process: RSS when /healthz first answers, and after 4 rounds of idle syncs. Again
  with MALLOC_ARENA_MAX=2 (each sync thread otherwise gets a glibc malloc arena of its own).
* tracked: a KindState (extract_run) filled through the engine API with N synthetic observations
  shaped like real ones (Extend-style 25-character ids; half PROCESSING, half finished inside the
  window, all new and counted, so every Entry carries its counted statuses). Bytes per run is the RSS
  delta over N (the ids, the ledger dict, the entries); tracemalloc, in a separate child, gives the
  Python-allocator view. The per-sync CPU of a sync that changes nothing is timed at that size too
  (snapshot + prune + apply of an empty page), since the ledger is walked on every sync.

Usage: .venv/bin/python -m bench.memory [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import subprocess
import sys
import time
import tracemalloc
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    emit,
    free_port,
    json_arg,
    mib,
    rss,
    sim_process,
)
from exporter.engine.kind_state import KindState, Observation
from exporter.kinds import KINDS, RUN_SOURCES

ALPHABET = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
T0 = 1_793_000_000.0


def _rss_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def idle_process(arena_max: str | None, syncs: int = 4, interval: float = 2.0) -> dict[str, Any]:
    """`extend-exporter run` (the real process, every default kind) against an idle simulator."""
    exe = Path(sys.executable).with_name("extend-exporter")
    port = free_port()
    with sim_process("--history", "10000", "--idle", max_seconds=120) as sim:
        env = {
            **os.environ,
            "EXTEND_API_KEY": sim["api_key"],
            "EXTEND_API_BASE_URL": sim["url"],
            "EXTEND_EXPORTER_LISTEN_ADDRESS": f"127.0.0.1:{port}",
            "EXTEND_EXPORTER_POLL_INTERVAL_SECONDS": str(interval),
            "EXTEND_EXPORTER_LOG_LEVEL": "warning",
        }
        if arena_max is not None:
            env["MALLOC_ARENA_MAX"] = arena_max
        proc = subprocess.Popen([str(exe), "run"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while _get(base + "/healthz") != 200 and time.monotonic() < deadline:
                time.sleep(0.02)
            started = _rss_of(proc.pid)
            while _get(base + "/readyz") != 200 and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(syncs * interval)  # a few idle syncs of every kind
            idle = _rss_of(proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return {"rss_started_mib": mib(started), "rss_idle_mib": mib(idle)}


def synthetic(n: int, seed: int = 1) -> list[Observation]:
    rnd = random.Random(seed)
    out: list[Observation] = []
    for i in range(n):
        rid = "exr_" + "".join(rnd.choices(ALPHABET, k=21))
        status = "PROCESSING" if i % 2 else "PROCESSED"
        created = T0 + i * 0.01
        # "".join: a fresh string per summary, as the JSON parser returns them
        out.append(
            Observation(
                rid,
                "".join(status),
                created,
                created + 7.0,
                processor_type="".join("EXTRACT"),
                resource=("".join("ex_invoice"), "Invoice"),
                credits=None if i % 2 else 1.5,
            )
        )
    return out


def fill(n: int, chunk: int = 5_000) -> KindState:
    state = KindState(KINDS["extract_run"])
    state.position = state.window = T0 - 1.0  # right after a baseline: every run is new
    for start in range(0, n, chunk):
        batch = synthetic(min(chunk, n - start), seed=start)
        sources = {o.id: RUN_SOURCES[i % len(RUN_SOURCES)] for i, o in enumerate(batch)}
        state.apply(batch, sources, overlap=1e9, new_position=None)
        del batch, sources
    return state


def child_tracked(n: int, use_tracemalloc: bool) -> dict[str, Any]:
    gc.collect()
    if use_tracemalloc:
        tracemalloc.start()
    before = rss()
    t0 = time.perf_counter()
    state = fill(n)
    build = time.perf_counter() - t0
    gc.collect()
    out: dict[str, Any] = {"tracked": len(state.entries)}
    if use_tracemalloc:
        current, _ = tracemalloc.get_traced_memory()
        out["tracemalloc_bytes_per_run"] = round(current / n, 1)
        return out
    out["rss_mib"] = mib(rss())
    out["rss_bytes_per_run"] = round((rss() - before) / n, 1)
    out["fill_seconds"] = round(build, 2)
    # A sync that changed nothing still walks the ledger: apply (prune) and snapshot.
    top = T0 + n * 0.01 + 10
    t1 = time.perf_counter()
    state.apply([], {}, overlap=1e9, new_position=top)
    t2 = time.perf_counter()
    state.snapshot()
    t3 = time.perf_counter()
    out["empty_apply_ms"] = round((t2 - t1) * 1000, 1)
    out["snapshot_ms"] = round((t3 - t2) * 1000, 1)
    return out


def run_child(*args: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.memory", "--child", *args]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--child", nargs="+", default=None, help=argparse.SUPPRESS)
    json_arg(ap)
    args = ap.parse_args()
    if args.child:
        what = args.child[0]
        if what != "idle":
            print(json.dumps(child_tracked(int(args.child[1]), what == "tracemalloc")))
        return 0
    results: dict[str, Any] = {
        "idle": idle_process(None),
        "idle_malloc_arena_max_2": idle_process("2"),
        "tracked": [],
    }
    for n in (int(s) for s in args.sizes.split(",") if s):
        row = run_child("rss", str(n))
        row.update(run_child("tracemalloc", str(n)))
        results["tracked"].append(row)
    emit(results, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
