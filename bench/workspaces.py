"""One exporter process for several workspaces of one organisation: requests against the budget,
memory, CPU, the widest sync interval per workspace, and exact counts.

Each configuration runs an `Organisation` of N workspaces in this process (real clock, speed 1, epoch
at the real now, 2,000 runs of history and one stuck run per family each, so an idle sync round costs
what the issue's "about 9 requests" says) and the real `python -m exporter run` in a child process
with `EXTEND_WORKSPACE_ID` listing all N, the default kinds, the given budget and poll interval. With
`--busy`, the first workspace gets arrivals at 1,000 runs/min (the default mix); the others stay idle.
After a warm-up (every (workspace, kind)'s first sync, by an exporter with a 100 req/s budget, stopped
with its state file), the measured exporter continues from that state file; once every (workspace,
kind) has synced again it measures for `--seconds`:

- requests per second at the simulator (every request it answered) against the budget, and the most
  answered in any 1 s and any 10 s (the budget's bounds: budget + burst, and budget x 10);
- requests per sync round per workspace (a round is one sync of every kind), idle and busy, from the
  exporter's `extend_api_requests_total{workspace}` and `extend_syncs_total{workspace}`;
- CPU s/min of the exporter process (utime + stime), its peak RSS (VmHWM);
- the widest sync interval each workspace showed (`extend_sync_interval_seconds`, polled every 1 s,
  max over its kinds): the widest among the idle workspaces, and the busy one's;
- counts exact: the clocks are then frozen and every workspace's created/finished/active series are
  compared with its truth until equal or a deadline passes; a row whose counts differ fails.

`--matrix` runs the configurations of `make bench` one after the other (1, 10 and 50 workspaces, idle
and one busy, at PAYG's 10 req/s and a 15 s interval; and 10 with one busy at the default 2 req/s).

Usage: .venv/bin/python -m bench.workspaces [--workspaces 10] [--busy] [--budget 10] [--interval 15]
       [--seconds 60] [--matrix]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bench.busy import cpu_seconds, peak_rss_mib
from bench.common import DEFAULT_KIND_NAMES, ROOT, emit, free_port, json_arg
from extend_simulator import Organisation, SimConfig
from extend_simulator.config import _default_rates

BUSY_RUNS_PER_MIN = 1000.0
MATRIX = (
    (1, False, 10.0),
    (1, True, 10.0),
    (10, False, 10.0),
    (10, True, 10.0),
    (50, False, 10.0),
    (50, True, 10.0),
)
TIGHT = (10, True, 2.0)  # the default budget, saturated by the busy workspace
Labels = dict[str, str]
# The truth's key order of created and of finished/active runs.
CREATED = ("kind", "source", "processor_type")
FINISHED = ("kind", "status", "source", "processor_type")


def scrape(port: int) -> list[tuple[str, Labels, float]]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples]


def by_workspace(samples: list[tuple[str, Labels, float]], name: str, **match: str) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for n, labels, value in samples:
        if n == name and all(labels.get(k) == v for k, v in match.items()):
            out[labels["workspace"]] += value
    return out


def workspace_ids(n: int) -> list[str]:
    return [f"ws_{i:03d}" for i in range(n)]


def start_organisation(n: int, busy: bool) -> Organisation:
    epoch = datetime.now(UTC).replace(microsecond=0)
    configs = {}
    for i, ws in enumerate(workspace_ids(n)):
        # No arrivals yet: the busy workspace's start once every first sync is done (see set_busy).
        configs[ws] = SimConfig(
            seed=100 + i, history=2000, stuck_runs=1, rates={}, realtime=True, tick_seconds=0.05, epoch=epoch
        )
    return Organisation(configs, qps_limit=None)


def set_busy(org: Organisation) -> None:
    """Arrivals at BUSY_RUNS_PER_MIN in the default mix, in the first workspace."""
    scale = BUSY_RUNS_PER_MIN / sum(_default_rates().values())
    first = next(iter(org.workspaces.values()))
    for fam, rate in _default_rates().items():
        first.set_rate(fam, rate * scale)


def start_exporter(
    org: Organisation, port: int, budget: float, interval: float, state: Path
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXTEND_")}
    env.update(
        EXTEND_API_KEY=org.api_key,
        EXTEND_API_BASE_URL=org.url,
        EXTEND_WORKSPACE_ID=",".join(org.workspaces),
        EXTEND_EXPORTER_LISTEN_ADDRESS=f"127.0.0.1:{port}",
        EXTEND_EXPORTER_POLL_INTERVAL_SECONDS=str(interval),
        EXTEND_EXPORTER_MAX_REQUESTS_PER_SECOND=str(budget),
        EXTEND_EXPORTER_STATE_FILE=str(state),
        EXTEND_EXPORTER_LOG_LEVEL="warning",
        PYTHONPATH=str(ROOT),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "exporter", "run"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL
    )


def wait_until(predicate: Any, deadline_s: float, what: str) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            if predicate():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.5)


class IntervalWatch:
    """Polls /metrics every second in a thread: the widest sync interval each workspace showed."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.widest: dict[str, float] = defaultdict(float)
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(1.0):
            try:
                samples = scrape(self.port)
            except OSError:
                continue
            for name, labels, value in samples:
                if name == "extend_sync_interval_seconds":
                    ws = labels["workspace"]
                    self.widest[ws] = max(self.widest[ws], value)

    def __enter__(self) -> IntervalWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(timeout=10)


class RequestTimes:
    """When the organisation answered each API request (its `on_request`, wrapped)."""

    def __init__(self, org: Organisation) -> None:
        self.times: list[float] = []
        original = org.on_request

        def record(workspace: str, template: str, code: int) -> None:
            self.times.append(time.monotonic())
            original(workspace, template, code)

        org.on_request = record  # type: ignore[method-assign]

    def between(self, t0: float, t1: float) -> list[float]:
        return [t for t in self.times if t0 <= t < t1]


def most_in(times: list[float], span: float) -> int:
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= span:
            start += 1
        best = max(best, end - start + 1)
    return best


def mismatches(org: Organisation, port: int, marks: dict[str, int]) -> dict[str, Any]:
    """Where a workspace's created/finished/active series differ from its truth (a few, per family)."""
    samples = scrape(port)
    kinds = set(DEFAULT_KIND_NAMES)
    wrong: dict[str, Any] = {}
    for ws, sim in org.workspaces.items():
        for name, labels_of, truth in (
            ("extend_runs_created_total", CREATED, sim.truth.created_since(marks[ws])),
            ("extend_runs_finished_total", FINISHED, sim.truth.finished_since(marks[ws])),
            ("extend_runs_active", FINISHED, sim.truth.active()),
        ):
            ours = {
                tuple(labels[k] for k in labels_of): value
                for n, labels, value in samples
                if n == name and labels["workspace"] == ws and value
            }
            theirs: dict[tuple[str, ...], float] = {
                tuple(k): float(v) for k, v in truth.items() if v and k[0] in kinds
            }
            bad = {str(k): (ours.get(k, 0.0), theirs.get(k, 0.0)) for k in ours.keys() | theirs.keys()}
            bad = {k: v for k, v in bad.items() if v[0] != v[1]}
            if bad:
                wrong[f"{ws} {name}"] = dict(list(bad.items())[:3])
    return wrong


@dataclass
class Window:
    """The measured window: /metrics, exporter CPU seconds and monotonic time at both ends, peak RSS."""

    first: list[tuple[str, Labels, float]]
    last: list[tuple[str, Labels, float]]
    cpu: tuple[float, float]
    t: tuple[float, float]
    peak_rss_mib: float
    state_kib: int = 0

    @property
    def seconds(self) -> float:
        return self.t[1] - self.t[0]

    def delta(self, name: str, **match: str) -> dict[str, float]:
        before = by_workspace(self.first, name, **match)
        return {ws: v - before.get(ws, 0.0) for ws, v in by_workspace(self.last, name, **match).items()}


def synced(port: int) -> float:
    return sum(by_workspace(scrape(port), "extend_syncs_total", result="success").values())


def warm_up(org: Organisation, interval: float, state: Path) -> None:
    """Every (workspace, kind)'s first sync (the baseline lists every active run) at a 100 req/s budget,
    then a stop: the measured exporter continues from the state file, as after a restart."""
    port = free_port()
    proc = start_exporter(org, port, 100.0, interval, state)
    try:
        first_syncs = len(org.workspaces) * len(DEFAULT_KIND_NAMES)
        wait_until(lambda: synced(port) >= first_syncs, 120 + first_syncs, "every first sync")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def measure(n: int, busy: bool, budget: float, interval: float, seconds: float) -> dict[str, Any]:
    """One configuration: warm-up, `seconds` measured, then the exact-count check."""
    org = start_organisation(n, busy)
    times = RequestTimes(org)
    org.start()
    marks = {ws: sim.mark() for ws, sim in org.workspaces.items()}
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state.json"
        warm_up(org, interval, state)
        proc = start_exporter(org, port, budget, interval, state)
        try:
            syncs = n * len(DEFAULT_KIND_NAMES)
            wait_until(lambda: synced(port) >= syncs, 120 + syncs * 20 / budget, "a sync of every kind")
            if busy:
                set_busy(org)
                time.sleep(min(interval, 20))  # its first busy syncs size their pages
            with IntervalWatch(port) as watch:
                first, cpu0, t0 = scrape(port), cpu_seconds(proc.pid), time.monotonic()
                time.sleep(seconds)  # the measured window: the exporter runs on its own meanwhile
                window = Window(
                    first, scrape(port), (cpu0, cpu_seconds(proc.pid)), (t0, time.monotonic()), 0.0
                )
                window.peak_rss_mib = peak_rss_mib(proc.pid)
            for driver in org._drivers:  # freeze every workspace's clock (a bench-only pause)
                driver.stop()
            settle = 3 * max([interval, *watch.widest.values()]) + 60
            try:
                wait_until(lambda: not mismatches(org, port, marks), settle, "exact counts")
                wrong = {}
            except RuntimeError:
                wrong = mismatches(org, port, marks)
            window.state_kib = round(state.stat().st_size / 1024)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            org.stop()
    return row(n, busy, budget, interval, window, times, watch, wrong)


def row(
    n: int,
    busy: bool,
    budget: float,
    interval: float,
    w: Window,
    times: RequestTimes,
    watch: IntervalWatch,
    wrong: dict[str, Any],
) -> dict[str, Any]:
    """The configuration's figures, as bench/run.py reads them."""
    answered = sorted(times.between(*w.t))
    requests = w.delta("extend_api_requests_total")
    rounds = {
        ws: v / len(DEFAULT_KIND_NAMES) for ws, v in w.delta("extend_syncs_total", result="success").items()
    }
    per_round = {ws: requests.get(ws, 0.0) / r for ws, r in rounds.items() if r}
    busy_ws = workspace_ids(n)[0] if busy else None
    idle = [ws for ws in per_round if ws != busy_ws]
    idle_widest = [v for ws, v in watch.widest.items() if ws != busy_ws]
    return {
        "workspaces": n,
        "busy": busy,
        "budget_rps": budget,
        "interval_s": interval,
        "seconds": round(w.seconds),
        "requests_per_s": round(len(answered) / w.seconds, 2),
        "most_in_1s": most_in(answered, 1.0),
        "most_in_10s": most_in(answered, 10.0),
        "idle_requests_per_round": round(sum(per_round[ws] for ws in idle) / len(idle), 2) if idle else None,
        "busy_requests_per_round": round(per_round[busy_ws], 2) if busy_ws in per_round else None,
        "cpu_s_per_min": round((w.cpu[1] - w.cpu[0]) / w.seconds * 60, 2),
        "peak_rss_mib": w.peak_rss_mib,
        "widest_idle_interval_s": round(max(idle_widest), 1) if idle_widest else None,
        "median_idle_widest_s": round(statistics.median(idle_widest), 1) if idle_widest else None,
        "busy_widest_interval_s": round(watch.widest[busy_ws], 1) if busy_ws in watch.widest else None,
        "failed_syncs": round(sum(w.delta("extend_syncs_total", result="failure").values())),
        "state_file_kib": w.state_kib,
        "counts_exact": not wrong,
        "mismatches": wrong,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workspaces", type=int, default=10)
    ap.add_argument("--busy", action="store_true", help="the first workspace gets 1,000 runs/min")
    ap.add_argument("--budget", type=float, default=10.0)
    ap.add_argument("--interval", type=float, default=15.0)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--matrix", action="store_true")
    json_arg(ap)
    args = ap.parse_args()
    configs = [*MATRIX, TIGHT] if args.matrix else [(args.workspaces, args.busy, args.budget)]
    rows = [measure(n, busy, budget, args.interval, args.seconds) for n, busy, budget in configs]
    emit({"rows": rows}, args.json)
    return 0 if all(r["counts_exact"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
