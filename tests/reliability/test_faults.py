"""Faults against the simulator over real HTTP, with the exporter as users run it (a subprocess).

One exporter process lives through every fault in turn (so it also shows the process stays up and
never double counts across them). For each fault: /metrics answers from the last snapshot within
100 ms, `extend_up{kind}` and /readyz tell the truth, retries respect Retry-After and the request cap
(counted at the simulator), and after recovery every count equals the simulator's ground truth.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from extend_simulator import Fault, SimConfig, Simulator
from tests.exporter_process import ExporterProcess, series, start_exporter, wait_until
from tests.reliability.proc_readings import threads
from tests.reliability.request_log import RequestLog, max_in_window
from tests.reliability.truth import (
    counts_from_metrics,
    diff,
    every_kind_up_is,
    metrics,
    scrape,
    truth_counts,
    up_values,
)

KINDS = ("workflow_run", "extract_run", "parse_run")
POLL = 0.2
MAX_RPS = 20.0
MAX_RETRIES = 3
TIMEOUT = 3.0
SCRAPE_BUDGET = 0.1  # seconds

pytestmark = pytest.mark.timing


@dataclass
class World:
    sim: Simulator
    log: RequestLog
    proc: ExporterProcess
    mark: int
    faults_seen: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    sim = Simulator(SimConfig(seed=31, history=1500, qps_limit=None))
    sim.start(host="127.0.0.1", port=0)
    log = RequestLog(sim)
    mark = sim.mark()  # the virtual clock only moves when a test advances it: baseline sees no events
    env = {
        "EXTEND_EXPORTER_MAX_REQUESTS_PER_SECOND": str(MAX_RPS),
        "EXTEND_EXPORTER_MAX_RETRIES": str(MAX_RETRIES),
        "EXTEND_EXPORTER_REQUEST_TIMEOUT_SECONDS": str(TIMEOUT),
        "EXTEND_EXPORTER_PAGE_SIZE": "50",
        "EXTEND_EXPORTER_SYNC_OVERLAP_SECONDS": "5",
        "EXTEND_EXPORTER_LOG_LEVEL": "info",
    }
    try:
        proc = start_exporter(sim.url, sim.api_key, kinds=",".join(KINDS), poll_interval=POLL, extra_env=env)
    except BaseException:
        sim.stop()
        raise
    try:
        yield World(sim, log, proc, mark)
    finally:
        proc.stop()
        sim.stop()


def counts_exact(w: World) -> bool:
    return not diff(counts_from_metrics(metrics(w.proc), KINDS), truth_counts(w.sim, w.mark, KINDS))


def wait_recovered(w: World, timeout: float = 30) -> None:
    def ok() -> bool:
        return every_kind_up_is(w.proc, KINDS, 1.0) and counts_exact(w)

    try:
        wait_until(ok, timeout=timeout, interval=0.1, message="extend_up 1 and counts equal to truth")
    except AssertionError:
        ours = counts_from_metrics(metrics(w.proc), KINDS)
        raise AssertionError(
            f"not recovered: up={up_values(w.proc)} diff={diff(ours, truth_counts(w.sim, w.mark, KINDS))}\n"
            + w.proc.logs()[-4000:]
        ) from None
    assert w.proc.get("/readyz").status_code == 200


def scrape_latency(w: World, n: int = 5) -> float:
    worst = 0.0
    for _ in range(n):
        elapsed, response = scrape(f"{w.proc.url}/metrics")
        assert response.status_code == 200 and b"extend_up" in response.content
        worst = max(worst, elapsed)
    return worst


def failures(w: World) -> float:
    return sum(series(metrics(w.proc), "extend_syncs_total", result="failure").values())


def all_down_and_unready(w: World) -> bool:
    return every_kind_up_is(w.proc, KINDS, 0.0) and w.proc.get("/readyz").status_code == 503


@dataclass(frozen=True)
class Scenario:
    name: str
    faults: tuple[Fault, ...] = ()
    persistent: bool = False  # every request fails until cleared: wait for extend_up 0 and /readyz 503
    revoke: bool = False
    note: str = ""


SCENARIOS = [
    Scenario(
        "429 storm, Retry-After: 1",
        (Fault("rate_limit", rate=1.0, retry_after=1),),
        persistent=True,
        note="waits Retry-After (all kinds), up 0, /readyz 503",
    ),
    Scenario(
        "5xx burst (500, 502, 503 + Retry-After)",
        (Fault("http_500", times=4), Fault("http_502", times=2), Fault("http_503", times=2, retry_after=1)),
        note="retried with backoff / Retry-After",
    ),
    Scenario(
        "timeouts (4 s answers, 3 s timeout)",
        (Fault("slow", times=2, delay=4.0),),
        note="timed out, retried",
    ),
    Scenario("connection resets", (Fault("reset", times=5),), note="retried (transport_error)"),
    Scenario(
        "malformed JSON / truncated / short read",
        (Fault("malformed_json", times=2), Fault("truncated_body", times=2), Fault("short_read", times=2)),
        note="retried (bad_response, transport_error)",
    ),
    Scenario(
        "page without its envelope key",
        (Fault("truncated_envelope", times=3),),
        note="retried (bad_response)",
    ),
    Scenario(
        "API 10x slower than the sync interval",
        (Fault("slow", rate=1.0, delay=10 * POLL),),
        note="one sync per kind at a time, no pile-up",
    ),
    Scenario("key revoked (401), then restored", revoke=True, persistent=True, note="no retries, up 0, 503"),
    Scenario("402 usage blocked", (Fault("usage_blocked", rate=1.0),), persistent=True, note="no retries"),
    Scenario("403 forbidden", (Fault("forbidden", rate=1.0),), persistent=True, note="no retries"),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_fault(world: World, scenario: Scenario, fault_table: list[dict[str, Any]]) -> None:
    w = world
    wait_recovered(w)
    pid = w.proc.proc.pid
    threads_before = threads(pid)
    failures_before = failures(w)
    start = w.log.mark()
    worst = 0.0
    if scenario.revoke:
        w.sim.revoke_key(w.sim.api_key)
    w.sim.set_faults(*scenario.faults)
    w.sim.advance(45)  # new runs and transitions happen while the API misbehaves
    if scenario.persistent:
        wait_until(lambda: all_down_and_unready(w), timeout=30, interval=0.1, message="up 0 and /readyz 503")
        worst = max(worst, scrape_latency(w))
        assert "no successful sync" not in w.proc.get("/readyz").text  # it says why: failures
    else:
        wanted = sum(f.times or 0 for f in scenario.faults)
        if wanted:
            wait_until(
                lambda: sum(f.fired for f in w.sim.faults.list()) >= wanted,
                timeout=40,
                interval=0.05,
                message="every injected fault fired",
            )
        else:  # a rate-based fault: let a few syncs run under it
            wait_until(lambda: len(w.log.since(start)) >= 6, timeout=40, message="requests under the fault")
        worst = max(worst, scrape_latency(w))
    assert w.proc.proc.poll() is None, "the exporter died"
    threads_during = threads(pid)
    down = w.log.since(start)
    w.sim.clear_faults()
    if scenario.revoke:
        w.sim.restore_key(w.sim.api_key)
    wait_recovered(w, timeout=45)
    # Read once every kind is up again on /metrics: then each sync that failed under the fault shows
    # (/metrics is assembled shortly after a sync, so a count read during the fault may trail its log).
    failed_syncs = failures(w) - failures_before
    worst = max(worst, scrape_latency(w))
    during = w.log.since(start)
    codes = dict(sorted(w.log.by_code(start).items()))

    # The request cap (token bucket: burst = rate) holds whatever the API does.
    assert max_in_window(during, 1.0) <= 2 * MAX_RPS + 2, "request cap exceeded"
    # Retry-After: after a 429 the exporter sends nothing to that endpoint (nor, as the limit is per
    # key, to any other) until it has passed; in-flight requests of other kinds may still land.
    for i, req in enumerate(during):
        if req.code == 429:
            later = [r for r in during[i + 1 :] if r.endpoint == req.endpoint]
            if later:
                assert later[0].at - req.at >= 0.9, (
                    f"{req.endpoint}: request {later[0].at - req.at:.2f}s after 429"
                )
    if scenario.revoke or scenario.name.startswith(("402", "403")):
        bad = sum(1 for r in during if r.code in (401, 402, 403))
        assert bad <= failed_syncs + len(KINDS), (
            f"{bad} refused requests for {failed_syncs} failed syncs: retried"
        )
    if scenario.name.startswith("API 10x"):
        for kind_endpoint in {r.endpoint for r in down}:
            times = [r.at for r in down if r.endpoint == kind_endpoint]
            gaps = [b - a for a, b in itertools.pairwise(times)]
            assert all(g >= 10 * POLL * 0.9 for g in gaps), f"{kind_endpoint}: overlapping syncs {gaps}"
        assert threads_during <= threads_before + 2, f"threads {threads_before} -> {threads_during}"
    assert worst < SCRAPE_BUDGET, f"/metrics took {worst * 1000:.0f} ms"
    fault_table.append(
        {
            "fault": scenario.name,
            "exporter did": scenario.note + (f"; {int(failed_syncs)} syncs failed" if failed_syncs else ""),
            "requests (code: n)": ", ".join(f"{c}: {n}" for c, n in codes.items()),
            "max /metrics ms": f"{worst * 1000:.1f}",
            "exact": "yes",
        }
    )
