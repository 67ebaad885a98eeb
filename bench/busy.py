"""A busy exporter process on a real clock with the real default budget: cost, CPU, memory, detection, counts.

Each configuration runs a real-clock simulator in this process (speed 1, epoch at the real now, 10k
history, arrivals at `--runs-per-min` nominal in the default mix) and the real `python -m exporter run`
in a child process with default settings (the 2.0 req/s budget included) except the poll interval.
After a warm-up (every kind's first sync done), arrivals start; the exporter is then measured for
`--seconds`:

- requests and response bytes per sync round by query type, recorded at the simulator's API handler
  (for the syncs that start in the window, each counted whole, up to its kind's next first scan page):
  `scan` (no `source`/`status` filter), `reconcile` (`status` filter), `attribution` (`source`
  filter). A round is one sync of every kind; rounds = first scan pages seen / number of kinds.
- actual/minimum: all listing requests over the requests the API forces. The minimum is, for every
  sync of every kind (a sync = a first scan page, one without `nextPageToken`), 1 (that scan page)
  plus, for a kind whose summaries carry no source (its spec has sources and not
  `source_in_summary`: not workflow_run, not verify_run), the number of distinct non-empty source
  values among that kind's runs created between the kind's previous sync start (which may fall
  before the window) and this one: each such source needs at least one `source`-filtered listing.
  syncs/kind/min counts whole syncs in the window: at a 60 s interval a 150 s window holds 2 or 3
  per kind (0.8-1.2/min), so the widest sync interval is the better sign of falling behind.
- CPU s/min of the exporter process (utime + stime from /proc/<pid>/stat), peak RSS (VmHWM).
- syncs per kind per minute (`extend_syncs_total{result="success"}` delta), requests/s against the
  budget, seconds waited for the budget per minute, the widest actual sync interval.
- detection: a hook on the simulator's truth records when each run enters FAILED (per kind); a poller
  reads the exporter's /metrics every 0.25 s and records when `extend_runs_finished_total{status=
  "FAILED"}` of that kind first reaches k; the k-th failure's latency is the difference. Failures that
  happen inside the measured window count (resolution 0.25 s; the poller's scrapes are in the CPU).
- counts exact: arrivals then stop, the simulator's clock is frozen (no run changes any more) and the
  exporter's created/finished/active series are compared with the simulator's truth until they are
  equal or a deadline (2 intervals + 60 s) passes; a row whose counts differ fails (exit 1).

`--matrix` runs the four configurations of `make bench` (100 and 1000 runs/min at 15 s and 60 s) in
parallel processes, each with its own simulator and exporter: on a 2-core machine shared with other
work they compete for CPU, so CPU, detection and syncs/min are upper/lower bounds, not quiet figures.
`--root` runs another tree's exporter (e.g. a checkout of the previous commit, for before/after).

Usage: .venv/bin/python -m bench.busy [--runs-per-min 1000] [--interval 15] [--seconds 180] [--matrix]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from prometheus_client.parser import text_string_to_metric_families

from bench.common import DEFAULT_KIND_NAMES, ROOT, emit, free_port, json_arg, query_type
from exporter.kinds import KINDS
from extend_simulator import SimConfig, Simulator
from extend_simulator.config import _default_rates
from extend_simulator.truth import labels3

MATRIX = ((100.0, 15.0), (1000.0, 15.0), (100.0, 60.0), (1000.0, 60.0))
Key = tuple[str, ...]
#: Family -> series -> value, for created, finished and active runs.
Counts = dict[str, dict[Key, float]]


def scrape(port: int) -> dict[str, dict[Key, float]]:
    """Family sample name -> {label values in sorted label-name order: value}."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out: dict[str, dict[Key, float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name][tuple(s.labels[k] for k in sorted(s.labels))] = s.value
    return out


def total(m: dict[str, dict[Key, float]], name: str, contains: str = "") -> float:
    return sum(v for k, v in m.get(name, {}).items() if not contains or contains in k)


def exported_counts(m: dict[str, dict[Key, float]]) -> dict[str, dict[Key, float]]:
    """created, finished and active series keyed as the simulator's truth keys them."""

    def keyed(name: str) -> dict[Key, float]:
        return {k: v for k, v in m.get(name, {}).items() if v}

    # sorted label names: created (kind, processor_type, source); finished (kind, processor_type, source,
    # status); active likewise: reorder to the truth's (kind, [status,] source, processor_type)
    created: dict[Key, float] = {(k[0], k[2], k[1]): v for k, v in keyed("extend_runs_created_total").items()}
    finished: dict[Key, float] = {
        (k[0], k[3], k[2], k[1]): v for k, v in keyed("extend_runs_finished_total").items()
    }
    active: dict[Key, float] = {(k[0], k[3], k[2], k[1]): v for k, v in keyed("extend_runs_active").items()}
    return {"created": created, "finished": finished, "active": active}


def truth_counts(sim: Simulator, mark: int) -> dict[str, dict[Key, float]]:
    kinds = set(DEFAULT_KIND_NAMES)
    return {
        name: {k: float(v) for k, v in d.items() if v and k[0] in kinds}
        for name, d in (
            ("created", sim.truth.created_since(mark)),
            ("finished", sim.truth.finished_since(mark)),
            ("active", sim.truth.active()),
        )
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


class Recorder:
    """Hooks on the simulator: listing requests (time, kind, type, first page, bytes), creations, failures."""

    def __init__(self, sim: Simulator) -> None:
        self.requests: list[tuple[float, str, str, bool, int]] = []
        self.created: list[tuple[float, str, str]] = []  # (time, kind, source)
        self.failed: dict[str, list[float]] = defaultdict(list)
        handle, on_created, on_transition = sim.api.handle, sim.truth.on_created, sim.truth.on_transition

        def record_request(
            method: str, path: str, query: str, headers: dict[str, str], body: bytes = b""
        ) -> Any:
            resp = handle(method, path, query, headers, body)
            if method == "GET" and path.endswith("_runs"):
                params = parse_qs(query)
                kind = path.strip("/")[:-1]
                first = "nextPageToken" not in params
                qtype = query_type(path, params)
                self.requests.append((time.monotonic(), kind, qtype, first, len(resp.body)))
            return resp

        def record_created(run: Any) -> None:
            on_created(run)
            now = time.monotonic()
            for kind, source, _ in labels3(run):
                self.created.append((now, kind, source))

        def record_transition(old: Any, new: Any) -> None:
            on_transition(old, new)
            if new.status == "FAILED" and old.status != "FAILED":
                now = time.monotonic()
                for kind, _, _ in labels3(new):
                    self.failed[kind].append(now)

        setattr(sim.api, "handle", record_request)  # noqa: B010 - a bench hook on one instance
        setattr(sim.truth, "on_created", record_created)  # noqa: B010
        setattr(sim.truth, "on_transition", record_transition)  # noqa: B010


def per_sync(rec: Recorder, t0: float, t1: float) -> tuple[int, int, Counter[str], Counter[str]]:
    """(kind syncs started in [t0, t1), forced requests, requests and bytes by query type) of those
    syncs: see the module docstring. A sync's requests are its kind's from its first scan page to the
    next one, so a sync still running at t1 is counted whole."""
    starts: dict[str, list[float]] = defaultdict(list)
    for at, kind, qtype, first, _ in rec.requests:
        if qtype == "scan" and first:
            starts[kind].append(at)
    syncs = forced = 0
    requests: Counter[str] = Counter()
    nbytes: Counter[str] = Counter()
    for kind, times in starts.items():
        spec = KINDS[kind]
        attributed = bool(spec.sources) and not spec.source_in_summary
        for prev, cur, nxt in zip(times[:-1], times[1:], [*times[2:], float("inf")], strict=True):
            if not t0 <= cur < t1:
                continue
            sources = {s for at, k, s in rec.created if k == kind and s and prev <= at < cur}
            syncs += 1
            forced += 1 + (len(sources) if attributed else 0)
            for at, k, qtype, _, size in rec.requests:
                if k == kind and cur <= at < nxt:
                    requests[qtype] += 1
                    nbytes[qtype] += size
    return syncs, forced, requests, nbytes


def freeze(sim: Simulator) -> None:
    """Stop the simulator's real-time clock: no run changes any more, so the exporter can catch up exactly."""
    driver = sim._driver  # the simulator has no public pause; a bench-only stop of its clock
    if driver is not None:
        driver.stop()


def start_simulator() -> Simulator:
    """A real-clock simulator (speed 1, epoch now) with 10k runs of history and no arrivals yet."""
    cfg = SimConfig(
        seed=2,
        history=10_000,
        qps_limit=None,
        failure_rate=0.05,
        realtime=True,
        speed=1.0,
        tick_seconds=0.02,
        epoch=datetime.now(UTC).replace(microsecond=0),
        rates={},
    )
    return Simulator(cfg)


def start_exporter(sim: Simulator, port: int, interval: float, root: Path) -> subprocess.Popen[bytes]:
    """`python -m exporter run` of the tree at `root`, default settings but the poll interval."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXTEND_")}
    env.update(
        EXTEND_API_KEY=sim.api_key,
        EXTEND_API_BASE_URL=sim.url,
        EXTEND_EXPORTER_LISTEN_ADDRESS=f"127.0.0.1:{port}",
        EXTEND_EXPORTER_POLL_INTERVAL_SECONDS=str(interval),
        EXTEND_EXPORTER_LOG_LEVEL="warning",
        PYTHONPATH=str(root),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "exporter", "run"], env=env, cwd=root, stdout=subprocess.DEVNULL
    )


def wait_first_syncs(port: int) -> None:
    """Until every default kind has synced once (the warm-up), at most 90 s."""
    deadline = time.monotonic() + 90
    while True:
        try:
            if total(scrape(port), "extend_syncs_total", "success") >= len(DEFAULT_KIND_NAMES):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the exporter never finished its first syncs")
        time.sleep(0.5)


def set_arrivals(sim: Simulator, per_min: float) -> None:
    """Runs created per minute in the default mix (0 stops arrivals)."""
    scale = per_min / sum(_default_rates().values())
    for fam, rate in _default_rates().items():
        sim.set_rate(fam, rate * scale)


class FailureWatch:
    """Reads the exporter's /metrics every 0.25 s in a thread: when each kind's k-th FAILED run first
    showed there (`seen[kind][k - 1]`), and the widest sync interval it reported."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.seen: dict[str, list[float]] = defaultdict(list)
        self.widest = 0.0
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def poll_once(self) -> None:
        try:
            m = scrape(self.port)
        except OSError:
            return
        now = time.monotonic()
        failed: Counter[str] = Counter()
        for k, v in m.get("extend_runs_finished_total", {}).items():
            if k[3] == "FAILED":  # sorted labels: kind, processor_type, source, status
                failed[k[0]] += int(v)
        for kind, n in failed.items():
            while len(self.seen[kind]) < n:
                self.seen[kind].append(now)
        self.widest = max([self.widest, *m.get("extend_sync_interval_seconds", {}).values()])

    def _run(self) -> None:
        while not self.stop.wait(0.25):
            self.poll_once()

    def start(self) -> None:
        self._thread.start()

    def finish(self) -> None:
        """Stop the thread, then look once more: the exporter may have shown the last failures since."""
        self.stop.set()
        self._thread.join(timeout=15)
        self.poll_once()


@dataclass(frozen=True)
class Window:
    """The measured window: /metrics, exporter CPU seconds and monotonic time at both ends."""

    first: dict[str, dict[Key, float]]
    last: dict[str, dict[Key, float]]
    cpu0: float
    cpu1: float
    t0: float
    t1: float
    #: Runs the simulator created in the window (processor_run, not a default kind, left out).
    created: float
    peak_rss_mib: float

    @property
    def minutes(self) -> float:
        return (self.t1 - self.t0) / 60

    def delta(self, name: str, contains: str = "") -> float:
        return total(self.last, name, contains) - total(self.first, name, contains)


def measure_window(sim: Simulator, pid: int, port: int, seconds: float) -> Window:
    first, cpu0, t0, created0 = scrape(port), cpu_seconds(pid), time.monotonic(), sim.mark()
    time.sleep(seconds)
    last, cpu1, t1 = scrape(port), cpu_seconds(pid), time.monotonic()
    created = sum(v for k, v in sim.truth.created_since(created0).items() if k[0] != "processor_run")
    return Window(first, last, cpu0, cpu1, t0, t1, created, peak_rss_mib(pid))


def settle(sim: Simulator, port: int, mark: int, interval: float) -> tuple[Counts, Counts]:
    """Arrivals stopped and the clock frozen: the exporter's counts and the truth, once equal or after
    the deadline (2 intervals + 60 s)."""
    set_arrivals(sim, 0.0)
    freeze(sim)
    settle_by = time.monotonic() + 2 * interval + 60
    ours, truth = exported_counts(scrape(port)), truth_counts(sim, mark)
    while ours != truth and time.monotonic() < settle_by:
        time.sleep(1)
        ours, truth = exported_counts(scrape(port)), truth_counts(sim, mark)
    return ours, truth


def measure(per_min: float, interval: float, seconds: float, root: Path) -> dict[str, Any]:
    """One configuration: warm-up, `seconds` of arrivals at `per_min`, then the exact-count check."""
    sim = start_simulator()
    rec = Recorder(sim)
    sim.start()
    mark = sim.mark()
    port = free_port()
    proc = start_exporter(sim, port, interval, root)
    watch = FailureWatch(port)
    try:
        wait_first_syncs(port)
        watch.start()
        set_arrivals(sim, per_min)
        time.sleep(min(interval, 20))  # the first busy syncs size their pages
        window = measure_window(sim, proc.pid, port, seconds)
        ours, truth = settle(sim, port, mark, interval)
        watch.finish()
    finally:
        watch.stop.set()
        proc.terminate()
        proc.wait(timeout=30)
        sim.stop()
    return row(per_min, interval, rec, watch, window, mismatches(ours, truth))


def detection_latencies(rec: Recorder, watch: FailureWatch, t0: float, t1: float) -> tuple[int, list[float]]:
    """(FAILED runs of default kinds in [t0, t1), seconds from each to its showing on /metrics)."""
    latencies: list[float] = []
    exported = set(DEFAULT_KIND_NAMES)  # the truth also counts processor_run, not a default kind
    for kind, times in rec.failed.items():
        if kind not in exported:
            continue
        for at, shown in zip(times, watch.seen[kind], strict=False):
            if t0 <= at < t1:
                latencies.append(shown - at)
    failures = sum(1 for k, times in rec.failed.items() if k in exported for at in times if t0 <= at < t1)
    return failures, latencies


def mismatches(ours: Counts, truth: Counts) -> dict[str, dict[str, tuple[float, float]]]:
    """Per family, the series whose exported count differs from the truth: (exported, truth)."""
    wrong = {
        name: {
            str(k): (ours[name].get(k, 0.0), truth[name].get(k, 0.0))
            for k in set(ours[name]) | set(truth[name])
            if ours[name].get(k, 0.0) != truth[name].get(k, 0.0)
        }
        for name in ("created", "finished", "active")
    }
    return {k: v for k, v in wrong.items() if v}


def row(
    per_min: float,
    interval: float,
    rec: Recorder,
    watch: FailureWatch,
    w: Window,
    wrong: dict[str, dict[str, tuple[float, float]]],
) -> dict[str, Any]:
    """The configuration's figures, as bench/run.py reads them."""
    kinds = len(DEFAULT_KIND_NAMES)
    syncs, forced, req_by, bytes_by = per_sync(rec, w.t0, w.t1)
    rounds = syncs / kinds
    requests = sum(1 for r in rec.requests if w.t0 <= r[0] < w.t1)
    failures, latencies = detection_latencies(rec, watch, w.t0, w.t1)
    return {
        "nominal_runs_per_min": per_min,
        "runs_per_min": round(w.created / w.minutes),
        "interval_s": interval,
        "seconds": round(w.t1 - w.t0),
        "rounds": round(rounds, 1),
        "requests_per_round": {k: round(v / rounds, 2) for k, v in sorted(req_by.items())} if rounds else {},
        "kib_per_round": {k: round(v / rounds / 1024, 1) for k, v in sorted(bytes_by.items())}
        if rounds
        else {},
        "minimum_per_round": round(forced / rounds, 2) if rounds else None,
        "actual_over_minimum": round(sum(req_by.values()) / forced, 2) if forced else None,
        "cpu_s_per_min": round((w.cpu1 - w.cpu0) / w.minutes, 2),
        "peak_rss_mib": w.peak_rss_mib,
        "syncs_per_kind_per_min": round(w.delta("extend_syncs_total", "success") / kinds / w.minutes, 2),
        "target_syncs_per_kind_per_min": round(60 / interval, 2),
        "failed_syncs": w.delta("extend_syncs_total", "failure"),
        "requests_per_s": round(requests / (w.t1 - w.t0), 2),
        "budget_wait_s_per_min": round(
            w.delta("extend_exporter_request_budget_wait_seconds_total") / w.minutes, 1
        ),
        "widest_sync_interval_s": round(watch.widest, 1),
        "failures": failures,
        "detected": len(latencies),
        "detection_mean_s": round(statistics.mean(latencies), 2) if latencies else None,
        "detection_max_s": round(max(latencies), 2) if latencies else None,
        "counts_exact": not wrong,
        "mismatches": {k: dict(list(v.items())[:5]) for k, v in wrong.items()},
    }


def matrix(seconds: float, root: Path) -> dict[str, Any]:
    """The four configurations at once, each in its own process (own simulator and exporter)."""
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        for per_min, interval in MATRIX:
            out = Path(tmp) / f"{per_min:g}-{interval:g}.json"
            cmd = [
                sys.executable,
                "-m",
                "bench.busy",
                "--runs-per-min",
                str(per_min),
                "--interval",
                str(interval),
            ]
            cmd += ["--seconds", str(seconds), "--root", str(root), "--json", str(out)]
            procs.append((out, subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)))
        rows = []
        for out, p in procs:
            p.wait()
            rows.append(json.loads(out.read_text()) if out.exists() else {"error": f"exit {p.returncode}"})
    cpus = len(os.sched_getaffinity(0))
    return {"parallel": len(MATRIX), "cpus": cpus, "rows": rows}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs-per-min", type=float, default=1000.0)
    ap.add_argument("--interval", type=float, default=15.0)
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--matrix", action="store_true", help="the four make-bench configurations in parallel")
    ap.add_argument("--root", type=Path, default=ROOT)
    json_arg(ap)
    args = ap.parse_args()
    if args.matrix:
        result = matrix(args.seconds, args.root.resolve())
        emit(result, args.json)
        return 0 if all(r.get("counts_exact") for r in result["rows"]) else 1
    row = measure(args.runs_per_min, args.interval, args.seconds, args.root.resolve())
    emit(row, args.json)
    return 0 if row["counts_exact"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
