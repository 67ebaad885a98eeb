"""Scrape latency of /metrics: p50/p99 and requests/s under 20 concurrent scrapers, 1k and 10k series,
in the classic text format and in OpenMetrics with exemplars (gzipped, as Prometheus asks for it).

Three processes on loopback, so the load generator does not share the exporter's GIL:

* the simulator (bench/simserver.py, real clock, 1,000 new runs per minute);
* the exporter (this module with --serve): every kind (all seven, processor_run included), its real
  MetricsServer (a selector loop and 8 worker threads) serving the cached exposition. 1k series: default
  settings. 10k series: per-resource labels on (`--per-resource-max 500`) with ~420 processors and
  workflows per kind seeded through the engine API (the simulator's catalog has at most six per
  family): a large organisation's breakdown. With `--sync` it syncs every kind back to back against
  the simulator the whole time, re-rendering /metrics after each kind: every scrape overlaps a sync.
* the load generator (this module): 20 asyncio clients on keep-alive connections. "closed": each
  sends its next request as soon as the last one returned (saturation; latency includes queueing
  behind the 19 others). "paced": each scrapes every 100 ms (200 scrapes/s in total), still far
  above what Prometheus servers do, so latency is the service time plus interference from the sync.

Idle rows also compare the exporter with a baseline in the same process and run: a plain
prometheus_client `start_http_server` on a registry holding the same series (parsed back from the
exporter's exposition), both scraped saturated (closed, plain, a new connection per scrape as the
baseline speaks HTTP/1.0) for `--baseline-seconds`, alternating, 3 runs: the exporter's rps and
p50/p99 over the baseline's, min/median/max of the per-run ratios.

A last row repeats 10k series with a sync running at CPython's default 5 ms switch interval (the
exporter sets 0.5 ms when its server starts, see exporter/web/server.py): what the GIL hand-over
costs a scrape.

"openmetrics" rows send Prometheus 2's Accept header and get OpenMetrics with exemplars; the others
send none and get the classic text format. Both bodies are cached per refresh (its "refresh" figure
now assembles and gzips both).

Usage: .venv/bin/python -m bench.scrape [--seconds 6] [--clients 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from bench.common import ROOT, emit, exporter_for, free_port, json_arg, sim_process
from exporter.engine.kind_state import DURATION_BUCKETS, Observation
from exporter.engine.observation import Detail
from exporter.kinds import KINDS, label_processor_types, label_sources

ALL_KINDS = tuple(KINDS)  # every kind, processor_run included
RESOURCES_PER_KIND = 420
# What Prometheus 2 sends on every scrape: OpenMetrics 1.0 first.
PROMETHEUS_ACCEPT = (
    b"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    b"text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


def seed_resources(exporter: Any, per_kind: int) -> None:
    """Make `per_kind` processors / workflows per kind known (their series start at 0)."""
    for kind, state in exporter.states.items():
        spec = KINDS[kind]
        if not (spec.resource_keys or spec.flat_resource):
            continue
        ptype = spec.processor_type or "EXTRACT"
        seeds = [
            Observation(
                f"seed_{kind}_{i}",
                "PROCESSING",
                1.0,
                1.0,
                processor_type=ptype,
                resource=(f"res_{kind[:3]}_{i:04d}", f"{kind} resource {i}"),
            )
            for i in range(per_kind)
        ]
        state.apply(seeds, {}, overlap=0.0, new_position=None, baseline=True)
        state.entries.clear()  # only the label values stay; the next sync starts from scratch


def seed_example_runs(exporter: Any) -> None:
    """One finished run, new since the baseline, in every duration bucket of every terminal status and
    processor type of every kind, FAILED ones spread over the failure reasons and sources: as many
    exemplars as the OpenMetrics body can carry (a baseline counts no run, and the simulator's runs
    take minutes to reach the long buckets)."""
    now = time.time()
    for kind, state in exporter.states.items():
        spec = KINDS[kind]
        reasons, sources = spec.failure_reasons or (None,), label_sources(spec)
        seeds: list[Observation] = []
        attributed: dict[str, str] = {}
        for status in spec.terminal_statuses:
            for ptype in label_processor_types(spec):
                for bound in DURATION_BUCKETS:
                    n = len(seeds)
                    reason = reasons[n % len(reasons)] if status == "FAILED" else None
                    duration = 0.9 * bound if math.isfinite(bound) else 20_000.0
                    seeds.append(
                        Observation(
                            f"seed_{kind}_{n:05d}",
                            status,
                            now,
                            now,
                            started_at=now - duration,
                            finished_at=now,
                            processor_type=ptype,
                            detail=Detail(failure_reason=reason),
                        )
                    )
                    attributed[seeds[-1].id] = sources[n % len(sources)]
        state.apply(seeds, attributed, overlap=0.0, new_position=None)


def serve_baseline(text: bytes, port: int) -> None:
    """A plain prometheus_client server (`start_http_server`) on a registry holding the same series."""
    families = list(text_string_to_metric_families(text.decode()))

    class Same(Collector):
        def collect(self) -> Iterator[Metric]:
            return iter(families)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Same())
    start_http_server(port, addr="127.0.0.1", registry=registry)


def serve(args: argparse.Namespace) -> int:
    per_resource = args.resources > 0
    exporter = exporter_for(
        args.sim_url,
        args.api_key,
        ALL_KINDS,
        listen_address=f"127.0.0.1:{args.port}",
        per_resource_labels=per_resource,
        per_resource_max=max(100, args.resources + 10),
    )
    if per_resource:
        seed_resources(exporter, args.resources)
    for kind in exporter.kinds:  # baseline, so that the exposition is complete before measuring
        exporter.sync_kind(kind)
    seed_example_runs(exporter)
    for kind in exporter.kinds:  # the series of the runs seeded above, rendered
        exporter.sync_kind(kind)
    exporter.start_server()
    if args.baseline_port:
        serve_baseline(exporter.exposition.current.text, args.baseline_port)
    if args.default_switch_interval:  # experiment: undo what the server set
        sys.setswitchinterval(0.005)
    stop = threading.Event()
    rounds = [0]

    def sync_loop() -> None:
        while not stop.is_set():
            for kind in exporter.kinds:
                exporter.sync_kind(kind)
            rounds[0] += 1

    syncer = threading.Thread(target=sync_loop, daemon=True)
    if args.sync:
        syncer.start()
    current = exporter.exposition.current
    text = current.text
    info = {
        "port": args.port,
        "series": sum(1 for line in text.splitlines() if line and not line.startswith(b"#")),
        "bytes": len(text),
        "gzip_bytes": len(current.gzipped),
        "openmetrics_bytes": len(current.openmetrics),
        "openmetrics_gzip_bytes": len(current.openmetrics_gzipped),
        "exemplars": current.openmetrics.count(b" # {"),
        "refresh_ms": round(min(_time_ms(exporter.exposition.refresh) for _ in range(5)), 1),
    }
    print(json.dumps(info), flush=True)
    sys.stdin.readline()  # the parent writes a line (or goes away) when done
    stop.set()
    print(json.dumps({"sync_rounds": rounds[0]}), flush=True)
    return 0


def _time_ms(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


async def _client(
    port: int,
    gzip: bool,
    deadline: float,
    interval: float,
    samples: list[float],
    errors: list[str],
    openmetrics: bool = False,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    request += b"Accept: " + PROMETHEUS_ACCEPT + b"\r\n" if openmetrics else b""
    request += b"Accept-Encoding: gzip\r\n\r\n" if gzip else b"\r\n"
    next_at = time.perf_counter()
    try:
        while time.perf_counter() < deadline:
            if interval:
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                next_at += interval
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            samples.append(time.perf_counter() - t0)
            if not head.startswith(b"HTTP/1.1 200"):
                errors.append(head.split(b"\r\n", 1)[0].decode())
    finally:
        writer.close()


async def _client_fresh(port: int, deadline: float, samples: list[float], errors: list[str]) -> None:
    """A new connection per scrape (the plain prometheus_client server speaks HTTP/1.0: one each)."""
    request = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = -1
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await (reader.readexactly(length) if length >= 0 else reader.read())
        finally:
            writer.close()
        samples.append(time.perf_counter() - t0)
        if not head.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
            errors.append(head.split(b"\r\n", 1)[0].decode())


async def _load(
    port: int,
    clients: int,
    gzip: bool,
    seconds: float,
    interval: float,
    fresh: bool = False,
    openmetrics: bool = False,
) -> dict[str, Any]:
    samples: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    deadline = start + seconds
    if fresh:
        await asyncio.gather(*(_client_fresh(port, deadline, samples, errors) for _ in range(clients)))
    else:
        await asyncio.gather(
            *(_client(port, gzip, deadline, interval, samples, errors, openmetrics) for _ in range(clients))
        )
    elapsed = time.perf_counter() - start
    samples.sort()
    n = len(samples)
    return {
        "requests": n,
        "rps": round(n / elapsed),
        "p50_ms": round(statistics.median(samples) * 1000, 2) if n else None,
        "p99_ms": round(samples[min(n - 1, int(n * 0.99))] * 1000, 2) if n else None,
        "max_ms": round(samples[-1] * 1000, 2) if n else None,
        "errors": len(errors),
    }


def versus_baseline(port: int, baseline_port: int, args: argparse.Namespace) -> dict[str, Any]:
    """Saturated plain scrapes of the exporter and of the plain server, alternating, 3 runs, a new
    connection per scrape for both (the plain server is HTTP/1.0): the exporter's figure over the
    baseline's per run (min/median/max), rps and p50/p99 latency."""
    ratios: dict[str, list[float]] = {"rps": [], "p50": [], "p99": []}
    runs: list[dict[str, Any]] = []
    for _ in range(3):
        ours = asyncio.run(_load(port, args.clients, False, args.baseline_seconds, 0.0, fresh=True))
        plain = asyncio.run(_load(baseline_port, args.clients, False, args.baseline_seconds, 0.0, fresh=True))
        runs.append({"exporter": ours, "plain": plain})
        ratios["rps"].append(ours["rps"] / max(1, plain["rps"]))
        ratios["p50"].append(ours["p50_ms"] / plain["p50_ms"])
        ratios["p99"].append(ours["p99_ms"] / plain["p99_ms"])
    return {
        "ratios": {
            k: {"min": round(min(v), 2), "median": round(statistics.median(v), 2), "max": round(max(v), 2)}
            for k, v in ratios.items()
        },
        "plain_rps_median": statistics.median(r["plain"]["rps"] for r in runs),
        "exporter_rps_median": statistics.median(r["exporter"]["rps"] for r in runs),
        "runs": runs,
    }


def measure(
    sim: dict[str, str],
    resources: int,
    sync: bool,
    args: argparse.Namespace,
    default_switch_interval: bool = False,
) -> dict[str, Any]:
    port = free_port()
    baseline_port = free_port() if not sync else 0
    cmd = [
        sys.executable,
        "-m",
        "bench.scrape",
        "--serve",
        "--sim-url",
        sim["url"],
        "--api-key",
        sim["api_key"],
        "--port",
        str(port),
        "--resources",
        str(resources),
        "--baseline-port",
        str(baseline_port),
    ]
    if sync:
        cmd.append("--sync")
    if default_switch_interval:
        cmd.append("--default-switch-interval")
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # the stdlib server prints every client disconnect
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the exporter process did not start")
        row: dict[str, Any] = json.loads(line)
        row["sync_running"] = sync
        row["default_switch_interval"] = default_switch_interval
        formats = [(False, False), (True, False)]  # (gzip, openmetrics)
        if not default_switch_interval:
            formats.append((True, True))
        for gzip, openmetrics in formats:
            for mode, interval in (("closed", 0.0), ("paced", 0.1)):
                name = f"{mode}_{'gzip' if gzip else 'plain'}{'_openmetrics' if openmetrics else ''}"
                load = _load(port, args.clients, gzip, args.seconds, interval, openmetrics=openmetrics)
                row[name] = asyncio.run(load)
        if baseline_port:
            row["vs_plain_prometheus_client"] = versus_baseline(port, baseline_port, args)
        proc.stdin.write("done\n")
        proc.stdin.flush()
        tail = proc.stdout.readline()
        if tail:
            row.update(json.loads(tail))
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return row


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=6.0, help="per measurement")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--sim-url", help=argparse.SUPPRESS)
    ap.add_argument("--api-key", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--resources", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--sync", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--baseline-port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--baseline-seconds", type=float, default=3.0, help="per baseline comparison run")
    ap.add_argument("--default-switch-interval", action="store_true", help=argparse.SUPPRESS)
    json_arg(ap)
    args = ap.parse_args()
    if args.serve:
        return serve(args)
    rates = ["workflow=146", "extract=293", "classify=146", "split=73", "parse=293", "edit=49"]
    rows = []
    with sim_process("--history", "20000", "--speed", "1", *(f"--rate={r}" for r in rates)) as sim:
        for resources in (0, RESOURCES_PER_KIND):
            for sync in (False, True):
                rows.append(measure(sim, resources, sync, args))
        rows.append(measure(sim, RESOURCES_PER_KIND, True, args, default_switch_interval=True))
    emit({"clients": args.clients, "seconds_per_measurement": args.seconds, "rows": rows}, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
