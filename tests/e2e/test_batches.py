"""Batch families against the simulator's truth: the exporter in-process, the simulator's clock advanced
by the test, every comparison exact.

Parse and workflow batches are found from `batchId` on the summaries the syncs read, so their kinds
are compared whole with the truth (the workload's own batches included); extract batches and legacy
batch processor runs are found only by ID (a setting, or a batch webhook through `Exporter.watch_batch`),
so those are compared batch by batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from exporter import fatal
from exporter.api.apikey import ApiKeySource
from exporter.app import Exporter
from exporter.batches.book import BatchBook
from exporter.config import load_settings
from exporter.factory import build_exporter
from extend_simulator import Organisation, SimConfig, Simulator
from extend_simulator.faults import Fault
from tests.e2e.test_exact_counts import (
    assert_matches_truth,
    make_exporter,
    nonzero,
    run_rounds,
    sim_factory,
    sync_all,
)
from tests.exporter_process import parse_metrics, series

__all__ = ["sim_factory"]  # the fixture, shared with the run counts' tests

KINDS = ("parse_run", "workflow_run", "extract_run")
A, B = "ws_a", "ws_b"  # two workspaces of one organisation
FOUND_ON_SUMMARIES = ("parse_run", "workflow_run")


def samples(exporter: Exporter) -> dict[Any, float]:
    return parse_metrics(exporter.exposition.refresh().text.decode())


def by_kind_status(exporter: Exporter, name: str, kinds: tuple[str, ...]) -> dict[tuple[str, str], int]:
    out = {}
    for labels, value in series(samples(exporter), name).items():
        d = dict(labels)
        if d["kind"] in kinds and value:
            out[(d["kind"], d["status"])] = int(value)
    return out


def batch_runs(exporter: Exporter, batch_id: str) -> dict[str, int]:
    rows = series(samples(exporter), "extend_batch_runs", batch_id=batch_id)
    return {dict(labels)["status"]: int(v) for labels, v in rows.items() if v}


def assert_families_match_truth(exporter: Exporter, sim: Simulator, mark: int, watched: list[str]) -> None:
    truth_finished = {
        k: v for k, v in sim.truth.batches_finished_since(mark).items() if k[0] in FOUND_ON_SUMMARIES
    }
    truth_active = {k: v for k, v in sim.truth.batches_active().items() if k[0] in FOUND_ON_SUMMARIES}
    assert by_kind_status(exporter, "extend_batches_finished_total", FOUND_ON_SUMMARIES) == truth_finished
    assert by_kind_status(exporter, "extend_batches_active", FOUND_ON_SUMMARIES) == truth_active
    shown = {dict(labels)["batch_id"] for labels in series(samples(exporter), "extend_batch_info")}
    for batch_id in shown | set(watched):
        status = sim.batch_status(batch_id)
        if status is not None and batch_id in shown:
            assert batch_runs(exporter, batch_id) == nonzero(sim.batch_members(batch_id)), batch_id


def test_batches_exact_through_churn_faults_and_a_restart(sim_factory: Any, tmp_path: Path) -> None:
    sim = sim_factory(seed=31, history=1500, batch_fraction=0.3, delete_rate_per_min=0.5)
    state_file = tmp_path / "state.json"
    queued = sim.submit_batch("parse", 40, hold_seconds=90, drain_per_second=0.5)
    first = make_exporter(sim, KINDS, state_file=str(state_file), batch_retention_seconds=3600)
    first.load_state()
    mark = sim.mark()
    sync_all(first)
    extract = sim.submit_batch("extract", 6)
    first.watch_batch("extract_run", extract)  # as a batch webhook does
    sim.submit_batch("workflow", 5)
    run_rounds(first, sim, 4, 30)
    assert_families_match_truth(first, sim, mark, [queued, extract])
    sim.set_faults(Fault("http_500", rate=0.1), Fault("rate_limit", rate=0.1, retry_after=0))
    for _ in range(4):
        sim.advance(30)
        for kind in first.kinds:
            first.sync_kind(kind)  # a sync may fail after its retries: the next one catches up
    sim.clear_faults()
    sync_all(first)
    first.stop()  # flushes the state file
    sim.advance(120)  # runs and batches move while nobody watches
    second = make_exporter(sim, KINDS, state_file=str(state_file), batch_retention_seconds=3600)
    second.load_state()
    run_rounds(second, sim, 8, 30)
    assert_families_match_truth(second, sim, mark, [queued, extract])
    assert sim.batch_status(queued) == "PROCESSED"
    finished = by_kind_status(second, "extend_batches_finished_total", ("extract_run",))
    assert finished == {("extract_run", sim.batch_status(extract) or ""): 1}
    assert batch_runs(second, extract) == nonzero(sim.batch_members(extract))


def test_more_batches_than_the_cap_keep_the_syncs_up_and_the_run_counts_exact(sim_factory: Any) -> None:
    """A busy workspace runs more batches than EXTEND_EXPORTER_MAX_BATCHES: finished batches make room,
    the rest are counted as left out, every sync succeeds and the run counts stay exact."""
    cap = 10
    sim = sim_factory(seed=35, history=5000, rates={"parse": 300.0}, batch_fraction=0.1)
    exporter = make_exporter(sim, ("parse_run",), max_batches=cap, sync_overlap_seconds=120)
    mark = sim.mark()
    sync_all(exporter)
    run_rounds(exporter, sim, 10, 60)  # sync_all asserts each sync succeeded
    assert_matches_truth(exporter, sim, mark)
    tracked = {dict(labels)["batch_id"] for labels in series(samples(exporter), "extend_batch_info")}
    assert 0 < len(tracked) <= cap
    assert sum(series(samples(exporter), "extend_batches_left_out_total").values()) > 0


def test_a_legacy_batch_processor_run_given_by_id_is_followed_to_its_end(sim_factory: Any) -> None:
    sim = sim_factory(seed=32, history=300)
    legacy = sim.submit_batch("classify", 4, hold_seconds=60, legacy_source="PLAYGROUND")
    exporter = make_exporter(sim, ("parse_run",), batch_ids=legacy)
    sync_all(exporter)
    info = series(samples(exporter), "extend_batch_info", batch_id=legacy)
    assert [dict(labels) for labels in info] == [
        {
            "kind": "processor_run",
            "batch_id": legacy,
            "status": "PENDING",
            "source": "PLAYGROUND",
            "workspace": exporter.workspace.identity(),
        }
    ]
    run_rounds(exporter, sim, 10, 60)
    status = sim.batch_status(legacy)
    assert status in ("PROCESSED", "FAILED")
    finished = by_kind_status(exporter, "extend_batches_finished_total", ("processor_run",))
    assert finished == {("processor_run", status): 1}
    assert series(samples(exporter), "extend_batch_files", batch_id=legacy)
    # The classify runs are not synced here: the batch's runs come from its own listing.
    assert batch_runs(exporter, legacy) == nonzero(sim.batch_members(legacy))
    before = sim.truth.requests().get("/batch_processor_runs/{id}", 0)
    run_rounds(exporter, sim, 3, 60)
    assert sim.truth.requests().get("/batch_processor_runs/{id}", 0) == before  # done: not read again


def test_a_batch_endpoint_that_fails_leaves_the_run_syncs_up(sim_factory: Any) -> None:
    sim = sim_factory(seed=33, history=300)
    queued = sim.submit_batch("parse", 20, hold_seconds=30, drain_per_second=0.5)
    exporter = make_exporter(sim, ("parse_run",), max_retries=0)
    mark = sim.mark()
    sync_all(exporter)
    sim.set_faults(Fault("http_500", rate=1.0, endpoints=frozenset({"/batch_runs/{id}"})))
    run_rounds(exporter, sim, 3, 30)  # sync_all asserts each sync succeeded
    assert sim.truth.requests_by_code().get(("/batch_runs/{id}", 500), 0) >= 3
    assert series(samples(exporter), "extend_batch_info", batch_id=queued)  # tracked, its status stale
    sim.clear_faults()
    run_rounds(exporter, sim, 3, 30)
    assert_families_match_truth(exporter, sim, mark, [queued])


def test_a_fault_in_the_batch_bookkeeping_costs_no_run_count(
    sim_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch book is told what each sync listed before the counts are applied: a fault there (a bug
    such as 6b505a6's KeyError) leaves the runs' syncs up and their counts exact."""
    sim = sim_factory(seed=34, history=300)
    sim.submit_batch("parse", 20, hold_seconds=5, drain_per_second=1.0)
    exporter = make_exporter(sim, ("parse_run",))
    mark = sim.mark()

    def broken(*_: object, **__: object) -> None:
        raise KeyError("bpar_gone")

    sync_all(exporter)
    monkeypatch.setattr(BatchBook, "observed", broken)
    run_rounds(exporter, sim, 4, 30)  # sync_all asserts each sync succeeded
    assert_matches_truth(exporter, sim, mark)


def test_a_memory_error_in_the_batch_bookkeeping_still_ends_the_process(
    sim_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard above keeps faults from the run counts, not MemoryError: that ends the process
    (fatal.out_of_memory) wherever a sync meets it."""
    sim = sim_factory(seed=36, history=100)
    exporter = make_exporter(sim, ("parse_run",))
    sync_all(exporter)
    ended: list[str] = []

    def out_of_memory(where: str = "") -> None:
        ended.append(where)

    def exhausted(*_: object, **__: object) -> None:
        raise MemoryError

    monkeypatch.setattr(fatal, "out_of_memory", out_of_memory)
    monkeypatch.setattr(BatchBook, "observed", exhausted)
    sim.advance(30)
    with pytest.raises(MemoryError):
        exporter.sync_kind("parse_run")
    assert ended == [f"the {exporter.workspace.name('parse_run')} sync"]


def test_a_batch_processor_run_event_resolves_to_the_batch_it_names(sim_factory: Any) -> None:
    """`batch_processor_run.*` webhooks name no run kind: the seam is called once per candidate."""
    sim = sim_factory(seed=40, history=200)
    legacy = sim.submit_batch("split", 3, hold_seconds=30, legacy_source="STUDIO")
    classify = sim.submit_batch("classify", 3, hold_seconds=30)
    exporter = make_exporter(sim, ("parse_run",))
    for batch_id in (legacy, classify):
        for kind in ("extract_run", "classify_run", "split_run", "processor_run"):
            exporter.watch_batch(kind, batch_id)
    sync_all(exporter)
    run_rounds(exporter, sim, 3, 60)
    info = {
        dict(labels)["batch_id"]: (dict(labels)["kind"], dict(labels)["status"])
        for labels in series(samples(exporter), "extend_batch_info")
    }
    assert info[legacy] == ("processor_run", sim.batch_status(legacy))
    assert info[classify] == ("classify_run", sim.batch_status(classify))
    assert batch_runs(exporter, classify) == nonzero(sim.batch_members(classify))


def organisation_exporter(org: Organisation, **settings: str) -> Exporter:
    """An exporter of parse runs in workspaces A and B of `org`, on A's clock, with `settings` added."""
    loaded = load_settings(
        {
            "api_key": org.api_key,
            "api_base_url": org.url,
            "workspace_id": f"{A},{B}",
            "kinds": "parse_run",
            "max_requests_per_second": 100,
            **settings,
        }
    )
    return build_exporter(
        loaded, ApiKeySource(loaded.api_key, None), clock=lambda: org.workspaces[A].now().timestamp()
    )


def test_each_workspace_follows_its_own_batches_and_keeps_them_in_its_section(tmp_path: Path) -> None:
    """Two workspaces of one organisation, one exporter: each batch shows under its own workspace only,
    each workspace's batch counts equal its own truth, and a restart continues each from its own
    section of the state file (nothing counted twice, nothing moved to the other workspace)."""
    org = Organisation(
        {A: SimConfig(seed=61, history=200, rates={}), B: SimConfig(seed=62, history=200, rates={})},
        qps_limit=None,
    )
    org.start()
    state = tmp_path / "state.json"

    def exporter() -> Exporter:
        made = organisation_exporter(org, state_file=str(state))
        made.load_state()
        return made

    def rounds(e: Exporter, n: int, seconds: float) -> None:
        for _ in range(n):
            org.advance(seconds)
            for ws in e.workspaces:
                assert e.sync_kind("parse_run", ws), ws.section

    def shown(e: Exporter) -> dict[str, set[tuple[str, str]]]:
        """Batch ID -> (workspace, status) of each extend_batch_info series."""
        out: dict[str, set[tuple[str, str]]] = {}
        for labels in series(samples(e), "extend_batch_info"):
            d = dict(labels)
            out.setdefault(d["batch_id"], set()).add((d["workspace"], d["status"]))
        return out

    def finished(e: Exporter) -> dict[str, dict[tuple[str, str], int]]:
        out: dict[str, dict[tuple[str, str], int]] = {A: {}, B: {}}
        for labels, value in series(samples(e), "extend_batches_finished_total").items():
            d = dict(labels)
            if value:
                out[d["workspace"]][(d["kind"], d["status"])] = int(value)
        return out

    try:
        marks = {ws: org.workspaces[ws].mark() for ws in (A, B)}
        first = exporter()
        rounds(first, 1, 1)
        held = org.workspaces[A].submit_batch("parse", 4, hold_seconds=600)
        done = org.workspaces[B].submit_batch("parse", 3)
        rounds(first, 3, 60)
        in_b = org.workspaces[B].batch_status(done)
        assert in_b in ("PROCESSED", "FAILED")
        assert (shown(first)[held], shown(first)[done]) == ({(A, "PENDING")}, {(B, in_b)})

        def truth() -> dict[str, dict[tuple[str, str], int]]:
            return {ws: dict(org.workspaces[ws].truth.batches_finished_since(marks[ws])) for ws in (A, B)}

        assert finished(first) == truth() == {A: {}, B: {("parse_run", in_b): 1}}
        assert first.stop()  # flushes the state file
        sections = orjson.loads(state.read_bytes())["workspaces"]
        assert held in str(sections[A]["batches"]) and held not in str(sections[B]["batches"])
        assert done in str(sections[B]["batches"]) and done not in str(sections[A]["batches"])
        second = exporter()
        assert finished(second) == truth()  # restored per section, before any sync
        rounds(second, 12, 60)  # the held batch starts after 600 s and drains
        in_a = org.workspaces[A].batch_status(held)
        assert in_a in ("PROCESSED", "FAILED")
        assert finished(second) == truth() == {A: {("parse_run", in_a): 1}, B: {("parse_run", in_b): 1}}
        assert (shown(second)[held], shown(second)[done]) == ({(A, in_a)}, {(B, in_b)})
        assert second.stop()
    finally:
        org.stop()


def test_ids_from_the_settings_warn_only_when_no_workspace_knows_them(caplog: Any) -> None:
    """EXTEND_EXPORTER_BATCH_IDS and EXTEND_EXPORTER_EVALUATION_RUN_IDS are tried in every workspace: a
    batch of one workspace is followed there without a warning from the other, and an ID that no
    workspace knows is one warning, not one per workspace."""
    org = Organisation(
        {A: SimConfig(seed=63, history=100, rates={}), B: SimConfig(seed=64, history=100, rates={})},
        qps_limit=None,
    )
    org.start()
    try:
        in_b = org.workspaces[B].submit_batch("extract", 3)
        e = organisation_exporter(org, batch_ids=f"{in_b},bpr_nowhere", evaluation_run_ids="esr_nowhere")
        caplog.set_level("DEBUG", logger="exporter.batches")
        for _ in range(2):
            for ws in e.workspaces:
                assert e.sync_kind("parse_run", ws), ws.section
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert sorted(warnings) == [
            "batch bpr_nowhere: unknown in every workspace; not watched",
            "evaluation set run esr_nowhere: unknown in every workspace; not watched",
        ]
        debug = [r.getMessage() for r in caplog.records if r.levelname == "DEBUG"]
        assert f"batch {in_b}: not in workspace {A}" in debug
        shown = {
            dict(labels)["workspace"] for labels in series(samples(e), "extend_batch_info", batch_id=in_b)
        }
        assert shown == {B}
    finally:
        org.stop()
