"""Batches in the simulator: queues that wait and drain, status derived from the runs, the truth of
batches, shared file names with `fileNameContains` as a substring filter, the control endpoint."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import httpx

from extend_simulator import Simulator
from extend_simulator.config import WaitingBatch
from extend_simulator.derive import SHARED_FILE_NAMES
from extend_simulator.scenarios import FailingBatch

from .conftest import MakeSim
from .sim_client import client, list_all


def test_a_batch_queue_waits_pending_then_drains_at_its_rate(make_sim: MakeSim) -> None:
    sim = make_sim(seed=3, rates={}, durations={"parse": 2.0}, duration_sigma=0.01)
    mark = sim.mark()
    bid = sim.submit_batch("parse", 200, hold_seconds=60.0, drain_per_second=4.0)
    assert sim.truth.batches_active() == {("parse_run", "PENDING"): 1}
    sim.advance(59)
    assert sim.batch_members(bid) == {"PENDING": 200} and sim.batch_status(bid) == "PENDING"
    sim.advance(11)  # 10 s of draining at 4 runs/s: about 40 started, the first ones finished
    members = sim.batch_members(bid)
    started = 200 - members["PENDING"]
    assert 38 <= started <= 42, members
    assert sim.batch_status(bid) == "PROCESSING"
    assert sim.truth.batches_active() == {("parse_run", "PROCESSING"): 1}
    sim.advance(60)
    members = sim.batch_members(bid)
    assert set(members) <= {"PROCESSED", "FAILED"} and sum(members.values()) == 200
    assert sim.batch_status(bid) == "PROCESSED"
    assert sim.truth.batches_finished_since(mark) == {("parse_run", "PROCESSED"): 1}
    assert sim.truth.batches_active() == {}
    with client(sim) as c:
        body = c.get(f"/batch_runs/{bid}").json()
        assert (body["status"], body["runCount"]) == ("PROCESSED", 200)
        runs = list_all(c, "/parse_runs", {"batchId": bid, "maxPageSize": 1000})
        assert len(runs) == 200 and {r["batchId"] for r in runs} == {bid}
        assert Counter(r["status"] for r in runs) == Counter(members)


def test_batch_status_follows_its_runs_for_every_kind(make_sim: MakeSim) -> None:
    sim = make_sim(seed=5, rates={}, failure_rate=1.0, cancel_rate=0.0)
    mark = sim.mark()
    ids = {fam: sim.submit_batch(fam, 3) for fam in ("workflow", "extract", "classify", "split", "parse")}
    legacy = sim.submit_batch("extract", 3, legacy_source="PLAYGROUND")
    sim.advance(3600)
    assert {fam: sim.batch_status(bid) for fam, bid in ids.items()} == dict.fromkeys(ids, "FAILED")
    assert sim.batch_status(legacy) == "FAILED"
    assert sim.truth.batches_finished_since(mark) == {
        **{(f"{fam}_run", "FAILED"): 1 for fam in ids},
        ("processor_run", "FAILED"): 1,
    }
    with client(sim) as c:
        assert c.get(f"/batch_runs/{legacy}").status_code == 404
        body = c.get(f"/batch_processor_runs/{legacy}").json()["batchProcessorRun"]
        assert (body["status"], body["source"], body["runCount"]) == ("FAILED", "PLAYGROUND", 3)
        assert "sourceId" not in body  # unset for PLAYGROUND
        members = list_all(c, "/processor_runs", {"sourceId": legacy}, version="2025-04-21")
        assert len(members) == 3


def test_a_batch_waiting_for_good_and_a_failing_batch(make_sim: MakeSim) -> None:
    """The demo incident's two batches: one created an hour before the start whose runs never leave
    PENDING, and one scripted at 20 s whose every run starts and ends FAILED (the failure rate is 0)."""
    sim = make_sim(
        seed=9,
        rates={},
        failure_rate=0.0,
        waiting_batches=(WaitingBatch("workflow", 5, age_seconds=3600.0),),
    )
    mark = sim.mark()
    (waiting,) = sim.batch_ids("workflow")[-1:]
    sim.script(FailingBatch("workflow", 3, at=20.0))
    sim.advance(3600)
    assert sim.batch_members(waiting) == {"PENDING": 5} and sim.batch_status(waiting) == "PENDING"
    failing = sim.batch_ids("workflow")[-1]
    assert sim.batch_members(failing) == {"FAILED": 3} and sim.batch_status(failing) == "FAILED"
    assert sim.truth.batches_finished_since(mark) == {("workflow_run", "FAILED"): 1}
    with client(sim) as c:
        runs = list_all(c, "/workflow_runs", {"batchId": waiting, "maxPageSize": 100})
        created = {datetime.fromisoformat(r["createdAt"]) for r in runs}
        assert len(runs) == 5 and {r["status"] for r in runs} == {"PENDING"}
        assert created == {sim.config.epoch - timedelta(hours=1)}
        failed = list_all(c, "/workflow_runs", {"batchId": failing, "maxPageSize": 100})
        assert all(r["startTime"] for r in failed)  # they ran before they failed


def test_shared_file_names_and_substring_filter(make_sim: MakeSim) -> None:
    sim = make_sim(seed=8, history=2000, shared_file_names=0.4)
    with client(sim) as c:
        runs = list_all(c, "/parse_runs", {"maxPageSize": 1000})
        names = Counter(r["file"]["name"] for r in runs)
        shared = sum(names[n] for n in SHARED_FILE_NAMES)
        assert 0.3 * len(runs) < shared < 0.5 * len(runs)
        scans = list_all(c, "/parse_runs", {"fileNameContains": "SCAN.pdf", "maxPageSize": 1000})
        assert len(scans) == names["scan.pdf"]  # case-insensitive
        partial = list_all(c, "/parse_runs", {"fileNameContains": "can.pd", "maxPageSize": 1000})
        assert {r["id"] for r in partial} >= {r["id"] for r in scans}  # a substring, not a name


def test_batch_control_endpoint(sim: Simulator) -> None:
    with httpx.Client(base_url=sim.url) as c:
        bid = c.post("/_sim/batch", params={"family": "parse", "size": 5, "hold": 30}).json()["id"]
        assert c.get("/_sim/batch", params={"id": bid}).json() == {
            "id": bid,
            "status": "PENDING",
            "members": {"PENDING": 5},
        }
        assert (
            c.post("/_sim/batch", params={"family": "edit", "size": 2, "legacy_source": "X"}).status_code
            == 400
        )
        assert c.get("/_sim/batch", params={"id": "bpar_nope"}).status_code == 404
        truth = c.get("/_sim/truth").json()
        assert {"kind": "parse_run", "status": "PENDING", "count": 1} in truth["batches_active"]
