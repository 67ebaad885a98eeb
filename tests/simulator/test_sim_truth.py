"""Ground truth vs. what listing returns; workload dynamics, deletion, scenarios and determinism."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx

from extend_simulator import DeleteRate, FailureSpike, Simulator
from extend_simulator.enums import ACTIVE, EDIT_SOURCES, PARSE_SOURCES, RUN_SOURCES, TERMINAL

from .conftest import MakeSim
from .sim_client import V_NEW, V_OLD, WORKFLOW_STATUSES, client, list_all, wait_for

ENDPOINTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # path: (kind, processor_type, sources)
    "/workflow_runs": ("workflow_run", "", ("",)),
    "/extract_runs": ("extract_run", "EXTRACT", RUN_SOURCES),
    "/classify_runs": ("classify_run", "CLASSIFY", RUN_SOURCES),
    "/split_runs": ("split_run", "SPLITTER", RUN_SOURCES),
    "/parse_runs": ("parse_run", "", PARSE_SOURCES),
    "/edit_runs": ("edit_run", "", EDIT_SOURCES),
}

Label4 = tuple[str, str, str, str]


def _observe(c: httpx.Client) -> tuple[Counter[Label4], dict[Label4, float], list[tuple[str, str, str, str]]]:
    """Per (kind, status, source, processor_type): run counts and PROCESSED credits, from source-filtered
    listings of every endpoint (plus /processor_runs for kind processor_run); and (kind, source, ptype,
    createdAt) of every run."""
    counts: Counter[Label4] = Counter()
    credits: dict[Label4, float] = {}
    created: list[tuple[str, str, str, str]] = []
    for path, (kind, ptype, sources) in ENDPOINTS.items():
        for src in sources:
            items = list_all(c, path, {"source": src} if src else None)
            for it in items:
                label = (kind, it["status"], src, ptype)
                counts[label] += 1
                if it["status"] == "PROCESSED" and it.get("usage"):
                    credits[label] = credits.get(label, 0.0) + it["usage"]["credits"]
                created.append((kind, src, ptype, it["createdAt"]))
    for src in RUN_SOURCES:
        for it in list_all(c, "/processor_runs", {"source": src}):
            label = ("processor_run", it["status"], src, it["type"])
            counts[label] += 1
            if it["status"] == "PROCESSED" and "usage" in it:
                credits[label] = credits.get(label, 0.0) + it["usage"]["credits"]
            created.append(("processor_run", src, it["type"], it["createdAt"]))
    return counts, credits, created


def _busy(make_sim: MakeSim, **kw: Any) -> Simulator:
    rates = {"workflow": 30.0, "extract": 40.0, "classify": 20.0, "split": 10.0, "parse": 40.0, "edit": 10.0}
    kw.setdefault("history", 300)
    s = make_sim(seed=kw.pop("seed", 31), rates=rates, timestamp_precision="ms", **kw)
    s.advance(240)
    return s


def test_truth_agrees_with_listings(make_sim: MakeSim) -> None:
    s = _busy(make_sim, review_seconds=60.0)
    with client(s) as c:
        before, credits_before, _ = _observe(c)
        mark = s.mark()
        mark_ms = s.now().timestamp()
        s.advance(300)
        after, credits_after, created = _observe(c)
        sim_truth = c.get("/_sim/truth", params={"since": mark}).json()

    active = s.truth.active()
    assert active, "the busy world must have active runs"
    observed_active = {k: n for k, n in after.items() if k[1] in ACTIVE}
    assert observed_active == active

    finished = s.truth.finished_since(mark)
    assert finished
    observed_finished = {k: after[k] - before.get(k, 0) for k in after if k[1] in TERMINAL}
    assert {k: v for k, v in observed_finished.items() if v} == finished
    assert {k[1] for k in finished} >= {"PROCESSED", "FAILED"}

    credits = s.truth.credits_since(mark)
    observed_credits = {k: credits_after.get(k, 0.0) - credits_before.get(k, 0.0) for k in credits_after}
    want_credits = {(k, src, p): v for (k, _st, src, p), v in observed_credits.items() if v}
    assert want_credits == credits

    observed_created: Counter[tuple[str, str, str]] = Counter()
    for kind, src, ptype, ts in created:
        if datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() > mark_ms:
            observed_created[(kind, src, ptype)] += 1
    assert dict(observed_created) == s.truth.created_since(mark)

    # the HTTP truth document says the same
    assert {(x["kind"], x["source"], x["processor_type"]): x["count"] for x in sim_truth["created"]} == (
        s.truth.created_since(mark)
    )
    assert {
        (x["kind"], x["status"], x["source"], x["processor_type"]): x["count"] for x in sim_truth["finished"]
    } == finished
    assert {
        (x["kind"], x["source"], x["processor_type"]): x["credits"] for x in sim_truth["credits"]
    } == credits
    assert {
        (x["kind"], x["status"], x["source"], x["processor_type"]): x["count"] for x in sim_truth["active"]
    } == active


def test_processor_run_kind_mirrors_extract_classify_split(make_sim: MakeSim) -> None:
    s = _busy(make_sim)
    mark = s.mark()
    s.advance(120)
    kinds = {"extract_run", "classify_run", "split_run"}
    for got in (s.truth.created_since(mark), s.truth.credits_since(mark)):
        proc = {(src, p): v for (k, src, p), v in got.items() if k == "processor_run"}
        fams = {(src, p): v for (k, src, p), v in got.items() if k in kinds}
        assert proc == fams and proc
    fin = s.truth.finished_since(mark)
    assert {k[1:]: v for k, v in fin.items() if k[0] == "processor_run"} == {
        k[1:]: v for k, v in fin.items() if k[0] in kinds
    }
    assert all(k[2] == "" and k[3] == "" for k in fin if k[0] == "workflow_run")
    assert all(k[3] == "" for k in fin if k[0] in ("parse_run", "edit_run"))


def test_control_mark_and_advance(sim: Simulator) -> None:
    with httpx.Client(base_url=sim.url, timeout=10) as c:
        mark = c.post("/_sim/mark").json()["mark"]
        before = sim.now()
        r = c.post("/_sim/advance", params={"seconds": 90}).json()
        assert (sim.now() - before).total_seconds() == 90
        assert datetime.fromisoformat(r["now"]) == sim.now()
        truth = c.get("/_sim/truth", params={"since": mark}).json()
    assert sum(x["count"] for x in truth["created"]) == sum(sim.truth.created_since(mark).values()) > 0


def test_deleted_runs_vanish_everywhere(make_sim: MakeSim) -> None:
    s = _busy(make_sim)
    victim = next(r for r in s.runs("extract") if r.status in ACTIVE)
    vid = s.run_id_of(victim)
    label = ("extract_run", victim.status, victim.source or "", "EXTRACT")
    active_before = s.truth.active()[label]
    assert s.delete_run(vid)
    assert not s.delete_run(vid) and s.get_run(vid) is None
    assert s.truth.active().get(label, 0) == active_before - 1
    assert s.truth.active().get(("processor_run", *label[1:]), 0) == active_before - 1
    with client(s) as c:
        for path, params in (
            ("/extract_runs", {}),
            ("/extract_runs", {"status": victim.status, "source": victim.source}),
            ("/extract_runs", {"sortBy": "createdAt", "sortDir": "asc"}),
            ("/processor_runs", {}),
            ("/processor_runs", {"processorType": "EXTRACT", "status": victim.status}),
        ):
            assert vid not in {x["id"] for x in list_all(c, path, params)}
        other = s.run_id_of(s.runs("workflow")[0])
        assert c.post("/_sim/delete", params={"id": other}).json() == {"id": other, "ok": True}
        assert other not in {x["id"] for x in list_all(c, "/workflow_runs", version=V_OLD)}
        assert c.post("/_sim/delete", params={"id": other}).status_code == 404
    n = len(s.runs())
    s.script(DeleteRate(per_min=60.0, at=s.virtual_elapsed()))
    s.set_rate("extract", 0)
    for fam in ("workflow", "classify", "split", "parse", "edit"):
        s.set_rate(fam, 0)
    s.advance(60)
    assert len(s.runs()) < n


def test_non_status_updates_do_not_count_as_finished(make_sim: MakeSim) -> None:
    s = make_sim(
        seed=8,
        history=200,
        rates={"extract": 0.0, "workflow": 0.0, "classify": 0.0, "split": 0.0, "parse": 0.0, "edit": 0.0},
    )
    s.advance(10)
    run = next(r for r in s.runs("extract") if r.status == "PROCESSED" and not r.reviewed)
    rid = s.run_id_of(run)
    mark = s.mark()
    n0 = s.truth.nonstatus_updates()
    assert s.touch_run(rid)
    assert s.truth.finished_since(mark) == {} and s.truth.created_since(mark) == {}
    assert s.truth.nonstatus_updates() == n0 + 1
    with client(s) as c:
        top = c.get("/extract_runs", params={"maxPageSize": 1}).json()["data"][0]
    assert top["id"] == rid and top["reviewed"] is True and top["status"] == "PROCESSED"
    assert datetime.fromisoformat(top["updatedAt"].replace("Z", "+00:00")) == s.now().replace(microsecond=0)
    # the workload produces them on its own too
    s2 = _busy(make_sim, touch_rate=1.0, touch_seconds=5.0)
    assert s2.truth.nonstatus_updates() > 0


def test_failure_spike(make_sim: MakeSim) -> None:
    s = _busy(make_sim)
    t = s.virtual_elapsed()
    s.script(FailureSpike("extract", start=t, end=t + 300, failure_rate=1.0))
    mark = s.mark()
    s.advance(300)
    fin = s.truth.finished_since(mark)
    extract = {k: v for k, v in fin.items() if k[0] == "extract_run"}
    assert extract and {k[1] for k in extract} == {"FAILED"}
    assert any(k[1] == "PROCESSED" for k in fin if k[0] == "classify_run")
    mark = s.mark()
    s.advance(600)
    assert any(k[1] == "PROCESSED" for k in s.truth.finished_since(mark) if k[0] == "extract_run")


def test_workflow_lifecycle_reaches_every_status(make_sim: MakeSim) -> None:
    s = _busy(make_sim, needs_review_rate=0.5, review_seconds=30.0, cancel_rate=0.1, failure_rate=0.1)
    seen: set[str] = set()
    for _ in range(12):
        s.advance(20)
        seen |= {r.status for r in s.runs("workflow")}
    assert seen == WORKFLOW_STATUSES
    with client(s) as c:
        for it in list_all(c, "/workflow_runs"):
            if it["status"] in ("PROCESSED", "FAILED", "CANCELLED", "REJECTED"):
                assert it["endTime"] is not None and it["startTime"] is not None
            if it["status"] == "PENDING":
                assert it["startTime"] is None and it["endTime"] is None
            if it["status"] == "REJECTED":
                assert it["reviewedAt"] is not None and it["rejectionNote"]
            assert (it["usage"] is not None) == (it["status"] == "PROCESSED")
        statuses = {it["status"] for it in list_all(c, "/parse_runs")}
        assert statuses <= {"PENDING", "PROCESSING", "PROCESSED", "FAILED"}
        assert {it["status"] for it in list_all(c, "/edit_runs")} <= {"PROCESSING", "PROCESSED", "FAILED"}


def _responses(s: Simulator) -> list[bytes]:
    out = []
    with client(s) as c:
        for path in ("/extract_runs", "/workflow_runs", "/parse_runs", "/processor_runs"):
            r = c.get(path, params={"maxPageSize": 200})
            out.append(r.content)
            token = r.json().get("nextPageToken")
            if token:
                out.append(c.get(path, params={"maxPageSize": 200, "nextPageToken": token}).content)
        out.append(c.get("/workflow_runs", headers={"x-extend-api-version": V_OLD}).content)
    return out


def test_same_seed_same_responses(make_sim: MakeSim) -> None:
    a = make_sim(seed=77, history=500)
    b = make_sim(seed=77, history=500)
    c = make_sim(seed=78, history=500)
    a.advance(300)
    for _ in range(30):  # the step size does not matter
        b.advance(10)
    c.advance(300)
    assert _responses(a) == _responses(b)
    assert _responses(a) != _responses(c)
    assert a.truth.created_since(0) == b.truth.created_since(0)


def test_realtime_mode_follows_wall_clock(make_sim: MakeSim) -> None:
    s = make_sim(seed=1, history=50, realtime=True, speed=100.0)
    start = s.now()
    wait_for(lambda: (s.now() - start).total_seconds() >= 20, timeout=5)
    assert s.now() > datetime(2026, 11, 1, tzinfo=UTC)
    with client(s) as c:
        assert c.get("/extract_runs", headers={"x-extend-api-version": V_NEW}).status_code == 200
