"""The exporter's real HTTP client against the simulator on 127.0.0.1: counts equal ground truth.

The exporter runs in-process (no scheduler) so each test decides when syncs happen; the simulator
runs a virtual clock that the test advances. Every comparison is exact, per label set.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.api.apikey import ApiKeySource
from exporter.app import Exporter
from exporter.config import load_settings
from exporter.factory import build_exporter
from exporter.kinds import KINDS, Order
from extend_simulator import SimConfig, Simulator
from extend_simulator.faults import Fault
from tests.simulator.sim_client import client, list_all

ALL_KINDS = tuple(KINDS)  # every kind, processor_run included


@pytest.fixture
def sim_factory() -> Iterator[Any]:
    started: list[Simulator] = []

    def make(**kw: Any) -> Simulator:
        kw.setdefault("qps_limit", None)
        sim = Simulator(SimConfig(**kw))
        sim.start(host="127.0.0.1", port=0)
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


def make_exporter(sim: Simulator, kinds: tuple[str, ...] = ALL_KINDS, **overrides: Any) -> Exporter:
    values: dict[str, Any] = {
        "api_key": sim.api_key,
        "api_base_url": sim.url,
        "kinds": ",".join(kinds),
        "max_requests_per_second": 100,
        "sync_overlap_seconds": 60,
        "max_retries": 6,
    }
    values.update(overrides)
    settings = load_settings(values)
    return build_exporter(settings, ApiKeySource(settings.api_key, None), clock=lambda: sim.now().timestamp())


def sync_all(exporter: Exporter) -> None:
    for kind in exporter.kinds:
        assert exporter.sync_kind(kind), f"sync of {kind} failed"


def run_rounds(exporter: Exporter, sim: Simulator, rounds: int, seconds: float) -> None:
    """Advance the simulator's clock, then sync every kind; `rounds` times."""
    for _ in range(rounds):
        sim.advance(seconds)
        sync_all(exporter)


def nonzero(d: dict[Any, Any]) -> dict[Any, Any]:
    return {k: v for k, v in d.items() if v}


def assert_matches_truth(exporter: Exporter, sim: Simulator, mark: int) -> None:
    created = sim.truth.created_since(mark)
    finished = sim.truth.finished_since(mark)
    credits = sim.truth.credits_since(mark)
    active = sim.truth.active()
    for kind in exporter.kinds:
        snap = exporter.states[kind].snapshot()
        assert nonzero({(kind, *k): v for k, v in snap.finished.items()}) == nonzero(
            {k: v for k, v in finished.items() if k[0] == kind}
        ), f"{kind}: finished"
        assert nonzero({(kind, *k): v for k, v in snap.created.items()}) == nonzero(
            {k: v for k, v in created.items() if k[0] == kind}
        ), f"{kind}: created"
        assert nonzero({(kind, *k): v for k, v in snap.active.items()}) == nonzero(
            {k: v for k, v in active.items() if k[0] == kind}
        ), f"{kind}: active"
        ours = nonzero({(kind, *k): round(v, 6) for k, v in snap.credits.items()})
        theirs = nonzero({k: round(v, 6) for k, v in credits.items() if k[0] == kind})
        assert ours == theirs, f"{kind}: credits"
        assert_fed_families_match_truth(exporter, sim, mark, kind)


def fed(exporter: Exporter, kind: str, family: str) -> dict[tuple[str, ...], Any]:
    """One accumulator family's rows of a kind, keyed (kind, *labels); {} when the kind has none."""
    rows = exporter.states[kind].snapshot().families.get(family, ())
    return {(kind, *labels): value for labels, value in rows}


def truth_of(sim: Simulator, name: str, mark: int, kind: str) -> dict[tuple[str, ...], float]:
    return {k: round(v, 6) for k, v in sim.truth.fed_since(name, mark).items() if k[0] == kind}


def assert_fed_families_match_truth(exporter: Exporter, sim: Simulator, mark: int, kind: str) -> None:
    """failed by reason, pages, processing time, verify risk, credits by tag: per label set."""
    spec = KINDS[kind]
    failed = fed(exporter, kind, "extend_runs_failed")
    assert nonzero(failed) == truth_of(sim, "failed", mark, kind), f"{kind}: failed by reason"
    if spec.failure_reasons is not None:
        finished = exporter.states[kind].snapshot().finished
        assert sum(failed.values()) == sum(v for k, v in finished.items() if k[0] == "FAILED"), kind
    else:
        assert not failed, f"{kind} has no failure reasons"
    pages = nonzero({k: round(v, 6) for k, v in fed(exporter, kind, "extend_run_pages").items()})
    assert pages == truth_of(sim, "pages", mark, kind), f"{kind}: pages"
    processing = fed(exporter, kind, "extend_run_processing_seconds")
    counts = nonzero({k: float(v[2]) for k, v in processing.items()})
    sums = nonzero({k: round(v[1], 6) for k, v in processing.items()})
    assert counts == truth_of(sim, "processing_count", mark, kind), f"{kind}: processing count"
    assert sums == truth_of(sim, "processing_seconds", mark, kind), f"{kind}: processing seconds"
    risk = nonzero(fed(exporter, kind, "extend_runs_processed_by_risk_level"))
    assert risk == truth_of(sim, "risk", mark, kind), f"{kind}: risk level"
    allowed = exporter.states[kind].usage_tags
    if allowed and spec.has_metadata:
        by_tag = nonzero(
            {k: round(v, 6) for k, v in fed(exporter, kind, "extend_run_credits_by_tag").items()}
        )
        theirs = {k: v for k, v in truth_of(sim, "tag_credits", mark, kind).items() if k[1] in allowed}
        assert by_tag == theirs, f"{kind}: credits by tag"


def total_finished(exporter: Exporter) -> int:
    return sum(sum(exporter.states[k].snapshot().finished.values()) for k in exporter.kinds)


def test_counts_equal_truth_for_every_kind(sim_factory: Any) -> None:
    sim = sim_factory(seed=11, history=3000, touch_rate=0.3, failure_rate=0.15)
    exporter = make_exporter(sim, usage_tags="team-claims,priority,not-used")
    mark = sim.mark()
    sync_all(exporter)  # baseline: nothing counted yet
    assert total_finished(exporter) == 0
    run_rounds(exporter, sim, 30, 20)
    assert total_finished(exporter) > 100, "the workload should have finished runs"
    assert_matches_truth(exporter, sim, mark)
    failed = sum(
        v for k, v in exporter.states["workflow_run"].snapshot().finished.items() if k[0] == "FAILED"
    )
    assert failed > 0
    assert_new_families_were_exercised(exporter, sim, mark)


def assert_new_families_were_exercised(exporter: Exporter, sim: Simulator, mark: int) -> None:
    """Guards against a truth test that passes on zeros: the families saw real values."""
    reasons = sim.truth.fed_since("failed", mark)
    undocumented = {
        (kind, reason)
        for kind, reason in reasons
        if reason not in (KINDS[kind].failure_reasons or ()) and reason != "OUT_OF_CREDITS"
    }
    assert undocumented, "no undocumented failure reason occurred"
    for kind, reason in undocumented:
        assert fed(exporter, kind, "extend_runs_failed")[(kind, reason)] > 0
    assert sum(fed(exporter, "verify_run", "extend_runs_processed_by_risk_level").values()) > 0
    assert fed(exporter, "parse_run", "extend_run_pages")[("parse_run",)] > 0
    snap = exporter.states["verify_run"].snapshot()
    assert {s for (s, _), v in snap.created.items() if v} == {"API", "STUDIO"}


def test_late_baseline_with_long_gaps_between_syncs(sim_factory: Any) -> None:
    """Syncs far apart (many pages of changes) and a workload already running at start."""
    sim = sim_factory(seed=5, history=500)
    sim.advance(600)
    exporter = make_exporter(sim, page_size=25)
    mark = sim.mark()
    sync_all(exporter)
    run_rounds(exporter, sim, 4, 400)
    assert_matches_truth(exporter, sim, mark)


@pytest.mark.parametrize("cursor_mode", ["offset", "keyset"])
def test_runs_moving_between_pages_mid_sync(sim_factory: Any, cursor_mode: str) -> None:
    """The clock runs while the exporter pages (small pages): runs jump pages under its feet."""
    rates = {
        "workflow": 60.0,
        "extract": 120.0,
        "classify": 60.0,
        "split": 30.0,
        "parse": 120.0,
        "edit": 20.0,
        "verify": 30.0,
    }
    sim = sim_factory(seed=7, history=2000, rates=rates, cursor_mode=cursor_mode)
    # A short overlap and long gaps between syncs: only re-reading, not the overlap, can save us.
    exporter = make_exporter(sim, page_size=20, sync_overlap_seconds=2)
    mark = sim.mark()
    sync_all(exporter)
    stop = threading.Event()

    def churn() -> None:  # about 20 virtual seconds per real second, in small steps
        while not stop.wait(0.01):
            sim.advance(0.2)

    churner = threading.Thread(target=churn, daemon=True)
    churner.start()
    rereads = 0
    try:
        deadline = time.monotonic() + 60
        while total_finished(exporter) < 300 and time.monotonic() < deadline:
            sim.advance(90)
            for kind in exporter.kinds:
                rereads += exporter.syncers[kind].sync().rereads
    finally:
        stop.set()
        churner.join(timeout=10)
    sync_all(exporter)  # quiescent: catch up with everything that happened while paging
    assert_matches_truth(exporter, sim, mark)
    assert total_finished(exporter) >= 300
    assert rereads > 0, "the list never changed under a paginated scan: the test proved nothing"


def test_parse_runs_in_updated_order(sim_factory: Any) -> None:
    sim = sim_factory(seed=3, history=800, parse_order="updated_desc")
    exporter = make_exporter(sim, kinds=("parse_run",), page_size=30)
    mark = sim.mark()
    sync_all(exporter)
    run_rounds(exporter, sim, 10, 45)
    assert_matches_truth(exporter, sim, mark)


def test_parse_runs_in_no_usable_order_fall_back_to_full_reads(sim_factory: Any) -> None:
    """Oldest first: neither descending order holds, so each sync reads the whole list, and stays exact."""
    sim = sim_factory(seed=4, history=400, parse_order="created_asc")
    exporter = make_exporter(sim, kinds=("parse_run",), page_size=50)
    mark = sim.mark()
    sync_all(exporter)
    assert exporter.states["parse_run"].effective_order is Order.NONE
    run_rounds(exporter, sim, 6, 45)
    assert_matches_truth(exporter, sim, mark)
    sim.advance(45)
    report = exporter.syncers["parse_run"].sync()
    with client(sim) as api:
        listed = len(list_all(api, "/parse_runs"))
    assert report.observed >= listed > 3 * 50, (report.observed, listed)  # every page, every sync


def test_exact_through_429_and_5xx_faults(sim_factory: Any) -> None:
    sim = sim_factory(seed=21, history=1500)
    exporter = make_exporter(sim, page_size=50)
    mark = sim.mark()
    sync_all(exporter)
    sim.set_faults(
        Fault("rate_limit", rate=0.15, retry_after=0),
        Fault("http_500", rate=0.05),
        Fault("http_503", rate=0.05, retry_after=0),
        Fault("reset", rate=0.03),
    )
    for _ in range(8):
        sim.advance(30)
        for kind in exporter.kinds:
            exporter.sync_kind(kind)  # a sync may fail after its retries: the next one catches up
    sim.clear_faults()
    sync_all(exporter)
    assert_matches_truth(exporter, sim, mark)
    codes = sim.truth.requests_by_code()
    assert sum(v for (_, code), v in codes.items() if code == 429) > 0


def test_restart_with_state_file_neither_doubles_nor_gaps(sim_factory: Any, tmp_path: Path) -> None:
    sim = sim_factory(seed=9, history=1000, failure_rate=0.15)
    state_file = tmp_path / "state.json"
    first = make_exporter(sim, state_file=str(state_file), usage_tags="team-claims")
    first.load_state()
    mark = sim.mark()
    sync_all(first)
    run_rounds(first, sim, 5, 30)
    first.stop()  # flushes the state file and releases its lock
    sim.advance(120)  # down for two minutes: runs finish while nobody watches
    second = make_exporter(sim, state_file=str(state_file), usage_tags="team-claims")
    second.load_state()
    assert second.states["verify_run"].snapshot().families == first.states["verify_run"].snapshot().families
    run_rounds(second, sim, 5, 30)
    assert_matches_truth(second, sim, mark)
    assert sum(fed(second, "verify_run", "extend_runs_failed").values()) > 0


def test_deleted_active_runs_leave_the_gauges(sim_factory: Any) -> None:
    sim = sim_factory(seed=4, history=200, delete_rate_per_min=3.0)
    exporter = make_exporter(sim, reconcile_interval_seconds=60)
    sync_all(exporter)
    run_rounds(exporter, sim, 12, 30)
    active = sim.truth.active()
    for kind in exporter.kinds:
        snap = exporter.states[kind].snapshot()
        assert nonzero({(kind, *k): v for k, v in snap.active.items()}) == nonzero(
            {k: v for k, v in active.items() if k[0] == kind}
        ), kind


def test_legacy_api_version(sim_factory: Any) -> None:
    sim = sim_factory(seed=13, history=600)
    exporter = make_exporter(sim, kinds=("processor_run", "workflow_run"), api_version="2025-04-21")
    mark = sim.mark()
    sync_all(exporter)
    run_rounds(exporter, sim, 10, 30)
    assert_matches_truth(exporter, sim, mark)
    assert total_finished(exporter) > 0


@pytest.mark.parametrize("history", [2_000, 50_000])
def test_idle_sync_costs_one_request_per_kind(sim_factory: Any, history: int) -> None:
    sim = sim_factory(seed=1, history=history, rates={}, touch_rate=0.0)
    exporter = make_exporter(sim, kinds=ALL_KINDS)
    sync_all(exporter)  # baseline (and first reconcile) may cost more
    before = sum(sim.truth.requests().values())
    run_rounds(exporter, sim, 3, 60)
    spent = sum(sim.truth.requests().values()) - before
    assert spent == 3 * len(ALL_KINDS)


def test_verify_runs_need_no_source_attribution(sim_factory: Any) -> None:
    """Verify summaries carry their source: busy or idle, no source-filtered listing is ever sent."""
    rates = {"verify": 30.0}
    sim = sim_factory(seed=17, history={"verify": 300}, rates=rates)
    queries: list[str] = []
    handle = sim.api.handle

    def recording(method: str, path: str, query: str, headers: dict[str, str], body: bytes = b"") -> Any:
        if path == "/verify_runs":
            queries.append(query)
        return handle(method, path, query, headers, body)

    sim.api.handle = recording
    exporter = make_exporter(sim, kinds=("verify_run",), reconcile_interval_seconds=10_000)
    mark = sim.mark()
    sync_all(exporter)
    run_rounds(exporter, sim, 8, 30)
    assert_matches_truth(exporter, sim, mark)
    assert sum(sim.truth.created_since(mark).values()) > 20, "the workload should have created verify runs"
    assert queries and not [q for q in queries if "source=" in q], [q for q in queries if "source=" in q]
    sim.set_rate("verify", 0)
    sim.advance(60)
    sync_all(exporter)  # settles what was still running
    before = len(queries)
    run_rounds(exporter, sim, 3, 60)
    assert len(queries) - before == 3  # idle: one request per sync
