"""Helpers of the reliability suite: request recording at the simulator, truth vs /metrics, /proc."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from extend_simulator import Simulator
from tests.support import ExporterProcess, Samples, parse_metrics, series


@dataclass(frozen=True)
class Request:
    at: float  # time.monotonic() when the simulator answered
    endpoint: str
    code: int  # 0: connection reset


class RequestLog:
    """Every API request the simulator answered, with its time: hooks `truth.on_request`."""

    def __init__(self, sim: Simulator) -> None:
        self._lock = threading.Lock()
        self.requests: list[Request] = []
        original = sim.truth.on_request

        def record(template: str, code: int) -> None:
            with self._lock:
                self.requests.append(Request(time.monotonic(), template, code))
            original(template, code)

        setattr(sim.truth, "on_request", record)  # noqa: B010 - a test hook on one instance

    def since(self, index: int) -> list[Request]:
        with self._lock:
            return self.requests[index:]

    def mark(self) -> int:
        with self._lock:
            return len(self.requests)

    def by_code(self, index: int) -> dict[int, int]:
        return dict(Counter(r.code for r in self.since(index)))


def max_in_window(requests: list[Request], window: float) -> int:
    times = sorted(r.at for r in requests)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best


def nonzero(d: dict[Any, float]) -> dict[Any, float]:
    return {k: v for k, v in d.items() if v}


def counts_from_metrics(samples: Samples, kinds: tuple[str, ...]) -> dict[str, dict[Any, float]]:
    out: dict[str, dict[Any, float]] = {"created": {}, "finished": {}, "active": {}}
    for labels, v in series(samples, "extend_runs_finished_total").items():
        d = dict(labels)
        if d["kind"] in kinds:
            out["finished"][(d["kind"], d["status"], d["source"], d["processor_type"])] = v
    for labels, v in series(samples, "extend_runs_created_total").items():
        d = dict(labels)
        if d["kind"] in kinds:
            out["created"][(d["kind"], d["source"], d["processor_type"])] = v
    for labels, v in series(samples, "extend_runs_active").items():
        d = dict(labels)
        if d["kind"] in kinds:
            out["active"][(d["kind"], d["status"], d["source"], d["processor_type"])] = v
    return {k: nonzero(v) for k, v in out.items()}


def truth_counts(sim: Simulator, mark: int, kinds: tuple[str, ...]) -> dict[str, dict[Any, float]]:
    return {
        "created": {k: float(v) for k, v in sim.truth.created_since(mark).items() if k[0] in kinds},
        "finished": {k: float(v) for k, v in sim.truth.finished_since(mark).items() if k[0] in kinds},
        "active": {k: float(v) for k, v in sim.truth.active().items() if k[0] in kinds},
    }


def diff(ours: dict[str, dict[Any, float]], truth: dict[str, dict[Any, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("created", "finished", "active"):
        keys = set(ours[name]) | set(truth[name])
        bad = {k: (ours[name].get(k, 0.0), truth[name].get(k, 0.0)) for k in keys}
        bad = {k: v for k, v in bad.items() if v[0] != v[1]}
        if bad:
            out[name] = bad
    return out


def scrape(url: str) -> tuple[float, httpx.Response]:
    """GET url on a new connection: (seconds the request took, response).

    The client is made before the clock starts: making one builds an SSL context (15-30 ms here),
    which is the test's cost, not the exporter's.
    """
    with httpx.Client(timeout=5) as client:
        started = time.perf_counter()
        response = client.get(url)
        return time.perf_counter() - started, response


def metrics(proc: ExporterProcess) -> Samples:
    return parse_metrics(proc.metrics_text())


def up_values(proc: ExporterProcess) -> dict[str, float]:
    return {dict(labels)["kind"]: v for labels, v in series(metrics(proc), "extend_up").items()}


def every_kind_up_is(proc: ExporterProcess, kinds: Sequence[str], value: float) -> bool:
    """extend_up equals `value` for every kind (a kind has no extend_up before its first sync ends)."""
    up = up_values(proc)
    return set(up) == set(kinds) and all(v == value for v in up.values())


# --- /proc ----------------------------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads")


def open_fds(pid: int) -> tuple[int, int]:
    """(sockets, other descriptors) the process holds open."""
    sockets = other = 0
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except FileNotFoundError:  # closed between listdir and readlink
            continue
        if target.startswith("socket:"):
            sockets += 1
        else:
            other += 1
    return sockets, other


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
