"""Endpoints, envelopes, filters, sorting, pagination and parameter validation."""

from __future__ import annotations

from typing import Any

import pytest

from extend_simulator import Simulator, derive
from extend_simulator.enums import PARSE_SOURCES, RUN_SOURCES, STATUSES, WORKFLOW_STATUSES
from extend_simulator.model import Run

from .conftest import MakeSim
from .sim_client import FAMILY_OF, NEW_ENDPOINTS, V_NEW, V_OLD, client, envelope_key, iter_pages, list_all


def ids_of(items: list[dict[str, Any]]) -> list[str]:
    return [i["id"] for i in items]


def model_ids(sim: Simulator, fam: str, pred: Any = None) -> set[str]:
    return {sim.run_id_of(r) for r in sim.runs(fam) if pred is None or pred(r)}


def test_every_endpoint_and_envelope_both_versions(sim: Simulator) -> None:
    with client(sim) as c:
        for version in (V_NEW, V_OLD):
            r = c.get("/processor_runs", headers={"x-extend-api-version": version})
            assert r.status_code == 200
            body = r.json()
            assert set(body) == {"success", "processorRuns", "nextPageToken"} and body["success"] is True
            assert len(body["processorRuns"]) == 10
            assert {x["type"] for x in list_all(c, "/processor_runs", version=version)} == {
                "EXTRACT",
                "CLASSIFY",
                "SPLITTER",
            }
        r = c.get("/workflow_runs", headers={"x-extend-api-version": V_OLD})
        assert set(r.json()) == {"success", "workflowRuns", "nextPageToken"}
        assert "workflowId" in r.json()["workflowRuns"][0]
        r = c.get("/workflow_runs")
        assert set(r.json()) == {"object", "data", "nextPageToken"} and r.json()["object"] == "list"
        assert r.json()["data"][0]["object"] == "workflow_run"
        for path in NEW_ENDPOINTS:
            r = c.get(path)
            assert r.status_code == 200, path
            body = r.json()
            assert body["object"] == "list" and len(body["data"]) == 10
            assert body["data"][0]["object"] == f"{FAMILY_OF[path]}_run"
            # Choice: 404 with the legacy error body under 2025-04-21 (no such list route there).
            r = c.get(path, headers={"x-extend-api-version": V_OLD})
            assert r.status_code == 404 and r.json() == {
                "success": False,
                "error": f"Route GET {path} not found.",
            }
        for item in (
            list_all(c, "/processor_runs") + list_all(c, "/extract_runs") + list_all(c, "/workflow_runs")
        ):
            assert "source" not in item and "sourceId" not in item


def test_batch_endpoints(sim: Simulator) -> None:
    extract_batch = sim.batch_ids("extract")[0]
    parse_batch = sim.batch_ids("parse")[0]
    with client(sim) as c:
        for bid in (extract_batch, parse_batch):
            r = c.get(f"/batch_runs/{bid}")
            assert r.status_code == 200
            body = r.json()
            assert body["object"] == "batch_run" and body["id"] == bid and body["runCount"] >= 2
            assert body["status"] in ("PENDING", "PROCESSING", "PROCESSED", "FAILED", "CANCELLED")
            members = list_all(
                c, "/parse_runs" if bid.startswith("bpar_") else "/extract_runs", {"batchId": bid}
            )
            assert len(members) == body["runCount"]
        assert (
            c.get(f"/batch_runs/{extract_batch}", headers={"x-extend-api-version": V_OLD}).status_code == 404
        )
        assert c.get("/batch_runs/bpr_doesnotexist").status_code == 404
        assert c.get("/batch_runs/bpr_doesnotexist").json()["code"] == "NOT_FOUND"
        for version in (V_NEW, V_OLD):
            r = c.get(f"/batch_processor_runs/{extract_batch}", headers={"x-extend-api-version": version})
            assert r.status_code == 200
            bpr = r.json()["batchProcessorRun"]
            assert bpr["object"] == "batch_processor_run" and bpr["id"] == extract_batch
            assert bpr["status"] in ("PENDING", "PROCESSING", "PROCESSED", "FAILED")
        assert c.get(f"/batch_processor_runs/{parse_batch}").status_code == 404


@pytest.mark.parametrize("path", [*NEW_ENDPOINTS, "/workflow_runs"])
def test_status_and_source_filters(sim: Simulator, path: str) -> None:
    fam = FAMILY_OF[path]
    with client(sim) as c:
        for status in STATUSES[fam]:
            got = set(ids_of(list_all(c, path, {"status": status})))
            assert got == model_ids(sim, fam, lambda r, s=status: r.status == s), status
        sources = {"parse": PARSE_SOURCES, "edit": ("API", "STUDIO", "ADMIN"), "workflow": ()}.get(
            fam, RUN_SOURCES
        )
        for source in sources:
            got = set(ids_of(list_all(c, path, {"source": source})))
            assert got == model_ids(sim, fam, lambda r, s=source: r.source == s), source
        if sources:
            assert c.get(path, params={"source": "NOPE"}).status_code == 400
        else:  # workflow runs have no source filter: the parameter is ignored like any unknown one
            assert c.get(path, params={"source": "API"}).status_code == 200
        assert c.get(path, params={"status": "NOPE"}).status_code == 400
        assert c.get(path, params={"status": "processed"}).status_code == 400


def test_processor_runs_filters(sim: Simulator) -> None:
    fams = ("extract", "classify", "split")
    all_proc = {sim.run_id_of(r) for f in fams for r in sim.runs(f)}
    with client(sim) as c:
        assert set(ids_of(list_all(c, "/processor_runs"))) == all_proc
        for ptype, fam in (("EXTRACT", "extract"), ("CLASSIFY", "classify"), ("SPLITTER", "split")):
            items = list_all(c, "/processor_runs", {"processorType": ptype})
            assert set(ids_of(items)) == model_ids(sim, fam) and {i["type"] for i in items} == {ptype}
            got = set(ids_of(list_all(c, "/processor_runs", {"processorType": ptype, "status": "PROCESSED"})))
            assert got == model_ids(sim, fam, lambda r: r.status == "PROCESSED")
        got = set(ids_of(list_all(c, "/processor_runs", {"source": "WORKFLOW_RUN", "status": "FAILED"})))
        want = {
            sim.run_id_of(r)
            for f in fams
            for r in sim.runs(f)
            if r.source == "WORKFLOW_RUN" and r.status == "FAILED"
        }
        assert got == want
        proc = sim.catalog["classify"][1]
        items = list_all(c, "/processor_runs", {"processorId": proc.id})
        assert items and {i["processorId"] for i in items} == {proc.id}
        assert set(ids_of(items)) == model_ids(sim, "classify", lambda r: r.proc == 1)
        assert c.get("/processor_runs", params={"processorType": "SPLIT"}).status_code == 400


@pytest.mark.parametrize(
    ("path", "param"),
    [("/extract_runs", "extractorId"), ("/classify_runs", "classifierId"), ("/split_runs", "splitterId")],
)
def test_processor_id_filters(sim: Simulator, path: str, param: str) -> None:
    fam = FAMILY_OF[path]
    with client(sim) as c:
        for p in sim.catalog[fam]:
            got = set(ids_of(list_all(c, path, {param: p.id})))
            assert got == model_ids(sim, fam, lambda r, i=p.index: r.proc == i)
        assert list_all(c, path, {param: "ex_unknown"}) == []


def test_workflow_batch_source_id_and_file_name_filters(sim: Simulator) -> None:
    seed = sim.config.seed
    with client(sim) as c:
        wf = sim.catalog["workflow"][0]
        for version in (V_NEW, V_OLD):
            items = list_all(c, "/workflow_runs", {"workflowId": wf.id}, version=version)
            assert set(ids_of(items)) == model_ids(sim, "workflow", lambda r: r.proc == 0)
        wbatch = sim.batch_ids("workflow")[0]
        items = list_all(c, "/workflow_runs", {"batchId": wbatch})
        assert len(items) >= 2 and {i["batchId"] for i in items} == {wbatch}
        # sourceId: the batch id for batch-created runs; the workflow run id for WORKFLOW_RUN runs.
        ebatch = sim.batch_ids("extract")[0]
        assert set(ids_of(list_all(c, "/extract_runs", {"sourceId": ebatch}))) == set(
            ids_of(list_all(c, "/extract_runs", {"batchId": ebatch}))
        )
        wf_parse = next(r for r in sim.runs("parse") if r.source == "WORKFLOW_RUN")
        sid = derive.source_id(seed, wf_parse)
        assert ids_of(list_all(c, "/parse_runs", {"sourceId": sid})) == [sim.run_id_of(wf_parse)]
        # parse: source is ignored when batchId is given
        pbatch = sim.batch_ids("parse")[0]
        a = ids_of(list_all(c, "/parse_runs", {"batchId": pbatch}))
        b = ids_of(list_all(c, "/parse_runs", {"batchId": pbatch, "source": "API"}))
        assert a == b and a
        # fileNameContains: case-insensitive substring of the file name
        for path, fam in (
            ("/extract_runs", "extract"),
            ("/edit_runs", "edit"),
            ("/workflow_runs", "workflow"),
        ):
            items = list_all(c, path, {"fileNameContains": "INVOICE"})
            want = model_ids(sim, fam, lambda r: "invoice" in derive.file_name(seed, r))
            assert set(ids_of(items)) == want
        names = [i["file"]["name"] for i in list_all(c, "/parse_runs", {"fileNameContains": "receipt"})]
        assert names and all("receipt" in n for n in names)
        items = list_all(c, "/processor_runs", {"fileNameContains": "w2_form", "processorType": "EXTRACT"})
        assert set(ids_of(items)) == model_ids(
            sim, "extract", lambda r: "w2_form" in derive.file_name(seed, r)
        )


def _sort_key(item: dict[str, Any], by: str) -> tuple[str, str]:
    return (item[by], item["id"])


@pytest.mark.parametrize("path", ["/processor_runs", "/workflow_runs", "/extract_runs", "/edit_runs"])
def test_sorting_both_keys_both_directions(sim: Simulator, path: str) -> None:
    with client(sim) as c:
        default = ids_of(list_all(c, path))
        for by in ("updatedAt", "createdAt"):
            for direction in ("asc", "desc"):
                items = list_all(c, path, {"sortBy": by, "sortDir": direction})
                keys = [_sort_key(i, by) for i in items]
                assert keys == sorted(keys, reverse=direction == "desc")
                if by == "updatedAt" and direction == "desc":
                    assert ids_of(items) == default  # defaults are updatedAt / desc
        if path != "/edit_runs":  # batches share createdAt: ties at second precision, broken by id
            items = list_all(c, path, {"sortBy": "createdAt", "sortDir": "asc"})
            created = [i["createdAt"] for i in items]
            assert len(set(created)) < len(created)
        assert c.get(path, params={"sortBy": "id"}).status_code == 400
        assert c.get(path, params={"sortDir": "DESC"}).status_code == 400


def test_parse_runs_order_ignores_sort_params(make_sim: MakeSim) -> None:
    for order, by, desc in (
        ("created_desc", "createdAt", True),
        ("updated_desc", "updatedAt", True),
        ("created_asc", "createdAt", False),
    ):
        s = make_sim(seed=5, history=300, parse_order=order)
        s.advance(120)
        with client(s) as c:
            items = list_all(c, "/parse_runs")
            keys = [_sort_key(i, by) for i in items]
            assert keys == sorted(keys, reverse=desc)
            assert ids_of(list_all(c, "/parse_runs", {"sortBy": "createdAt", "sortDir": "asc"})) == ids_of(
                items
            )


def test_pagination_to_the_end_and_end_token_styles(make_sim: MakeSim) -> None:
    for style in (None, "null", "absent"):
        s = make_sim(seed=3, history=250, end_token_style=style)
        with client(s) as c:
            for path, version in (
                ("/extract_runs", V_NEW),
                ("/processor_runs", V_NEW),
                ("/workflow_runs", V_OLD),
            ):
                key = envelope_key(path, version)
                pages = list(iter_pages(c, path, {"maxPageSize": 7}, version))
                seen = [x["id"] for p in pages for x in p[key]]
                assert len(seen) == len(set(seen))
                assert set(seen) == set(ids_of(list_all(c, path, version=version)))
                assert all(len(p[key]) == 7 for p in pages[:-1])
                for p in pages[:-1]:
                    token = p["nextPageToken"]
                    assert isinstance(token, str) and all(ch in token for ch in "+/=:")
                last = pages[-1]
                legacy_env = key != "data"
                effective = style or ("null" if legacy_env else "absent")
                if effective == "null":
                    assert "nextPageToken" in last and last["nextPageToken"] is None
                else:
                    assert "nextPageToken" not in last


def test_page_size_bounds(sim: Simulator) -> None:
    with client(sim) as c:
        assert len(c.get("/extract_runs").json()["data"]) == 10
        assert len(c.get("/extract_runs", params={"maxPageSize": 1}).json()["data"]) == 1
        big = c.get("/processor_runs", params={"maxPageSize": 1000}).json()["processorRuns"]
        assert 10 < len(big) <= 1000
        for bad in ("0", "1001", "-1", "abc", "1.5", "", "10 "):
            for version, path in ((V_NEW, "/extract_runs"), (V_OLD, "/processor_runs")):
                r = c.get(path, params={"maxPageSize": bad}, headers={"x-extend-api-version": version})
                assert r.status_code == 400, bad
                body = r.json()
                if version == V_NEW:
                    assert body["code"] == "INVALID_REQUEST" and body["retryable"] is False
                    assert body["requestId"].startswith("req_")
                else:
                    assert body["success"] is False and "maxPageSize" in body["error"]


def test_bad_tokens_and_repeated_params(sim: Simulator) -> None:
    with client(sim) as c:
        token = c.get("/extract_runs").json()["nextPageToken"]
        assert c.get("/extract_runs", params={"nextPageToken": token}).status_code == 200
        # unencoded token: '+' turns into a space on the server -> invalid token
        r = c.get(f"/extract_runs?nextPageToken={token}")
        assert r.status_code == 400 and r.json()["code"] == "INVALID_REQUEST"
        assert c.get("/extract_runs", params={"nextPageToken": "garbage"}).status_code == 400
        assert c.get("/extract_runs?status=FAILED&status=PROCESSED").status_code == 400
        assert c.get("/extract_runs", params={"unknownParam": "x"}).status_code == 200
        assert c.get("/nope").status_code == 404
        assert c.post("/extract_runs").status_code == 405


def test_workflow_statuses_all_accepted_in_both_versions(sim: Simulator) -> None:
    with client(sim) as c:
        for version in (V_NEW, V_OLD):
            for st in WORKFLOW_STATUSES:
                r = c.get("/workflow_runs", params={"status": st}, headers={"x-extend-api-version": version})
                assert r.status_code == 200


def test_timestamp_precision_ms(make_sim: MakeSim) -> None:
    s = make_sim(seed=2, history=50, timestamp_precision="ms")
    s.advance(60)
    with client(s) as c:
        items = list_all(c, "/parse_runs")
    assert items and all(len(i["createdAt"]) == len("2024-03-21T15:29:55.123Z") for i in items)
    assert all(i["createdAt"].endswith("Z") for i in items)


def test_runs_in_model_helper(sim: Simulator) -> None:
    run: Run = sim.runs("extract")[0]
    assert sim.get_run(sim.run_id_of(run)) is run
    assert sim.get_run("exr_nonsense") is None
