"""Counts on /metrics against the simulator's ground truth, and what a scrape of the exporter shows."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import httpx

from extend_simulator.state import SimState
from tests.exporter_process import ExporterProcess, Samples, parse_metrics, series


def nonzero(d: dict[Any, float]) -> dict[Any, float]:
    return {k: v for k, v in d.items() if v}


def counts_from_metrics(
    samples: Samples, kinds: tuple[str, ...], workspace: str | None = None
) -> dict[str, dict[Any, float]]:
    """Created, finished and active runs on /metrics (of one `workspace` label, when given)."""
    match = {} if workspace is None else {"workspace": workspace}
    out: dict[str, dict[Any, float]] = {"created": {}, "finished": {}, "active": {}}
    for labels, v in series(samples, "extend_runs_finished_total", **match).items():
        d = dict(labels)
        if d["kind"] in kinds:
            out["finished"][(d["kind"], d["status"], d["source"], d["processor_type"])] = v
    for labels, v in series(samples, "extend_runs_created_total", **match).items():
        d = dict(labels)
        if d["kind"] in kinds:
            out["created"][(d["kind"], d["source"], d["processor_type"])] = v
    for labels, v in series(samples, "extend_runs_active", **match).items():
        d = dict(labels)
        if d["kind"] in kinds:
            out["active"][(d["kind"], d["status"], d["source"], d["processor_type"])] = v
    return {k: nonzero(v) for k, v in out.items()}


def truth_counts(sim: SimState, mark: int, kinds: tuple[str, ...]) -> dict[str, dict[Any, float]]:
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
