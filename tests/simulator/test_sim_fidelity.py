"""Fidelity: every response shape checked against the official SDK models (extend-ai 1.20.0) or, for the
2025-04-21 workflow shape the SDK no longer models, against EXTEND_API.md §2.2b by hand."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
from extend_ai.batch_processor_run.types.batch_processor_run_get_response import (
    BatchProcessorRunGetResponse,
)
from extend_ai.classify_runs.types.classify_runs_list_response import ClassifyRunsListResponse
from extend_ai.edit_runs.types.edit_runs_list_response import EditRunsListResponse
from extend_ai.extract_runs.types.extract_runs_list_response import ExtractRunsListResponse
from extend_ai.parse_runs.types.parse_runs_list_response import ParseRunsListResponse
from extend_ai.processor_run.types.processor_run_list_response import ProcessorRunListResponse
from extend_ai.split_runs.types.split_runs_list_response import SplitRunsListResponse
from extend_ai.types.api_error import ApiError
from extend_ai.types.batch_run import BatchRun
from extend_ai.types.classify_run_summary import ClassifyRunSummary
from extend_ai.types.edit_run_summary import EditRunSummary
from extend_ai.types.evaluation_set_run import EvaluationSetRun
from extend_ai.types.extract_run_summary import ExtractRunSummary
from extend_ai.types.legacy_error import LegacyError
from extend_ai.types.legacy_processor_run_summary import LegacyProcessorRunSummary
from extend_ai.types.parse_run_summary import ParseRunSummary
from extend_ai.types.split_run_summary import SplitRunSummary
from extend_ai.types.verify_run_summary import VerifyRunSummary
from extend_ai.types.workflow_run_summary import WorkflowRunSummary
from extend_ai.verify_runs.types.verify_runs_list_response import VerifyRunsListResponse
from extend_ai.workflow_runs.types.workflow_runs_list_response import WorkflowRunsListResponse

from extend_simulator import Simulator

from .conftest import MakeSim
from .sdkcheck import RFC3339_UTC, Mismatch, check_model, field_keys
from .sim_client import V_NEW, V_OLD, WORKFLOW_STATUSES, client, iter_pages

NEW_MODELS: dict[str, tuple[type[pydantic.BaseModel], type[pydantic.BaseModel]]] = {
    "/workflow_runs": (WorkflowRunsListResponse, WorkflowRunSummary),
    "/extract_runs": (ExtractRunsListResponse, ExtractRunSummary),
    "/classify_runs": (ClassifyRunsListResponse, ClassifyRunSummary),
    "/split_runs": (SplitRunsListResponse, SplitRunSummary),
    "/parse_runs": (ParseRunsListResponse, ParseRunSummary),
    "/edit_runs": (EditRunsListResponse, EditRunSummary),
    "/verify_runs": (VerifyRunsListResponse, VerifyRunSummary),
}

# EXTEND_API.md §2.2b (SDK-0.2 WorkflowRunSummary), 2025-04-21.
LEGACY_WORKFLOW_REQUIRED = {
    "id",
    "status",
    "workflowId",
    "workflowName",
    "workflowVersionId",
    "createdAt",
    "updatedAt",
}
LEGACY_WORKFLOW_OPTIONAL = {
    "initialRunAt",
    "reviewedByUser",
    "reviewedAt",
    "startTime",
    "endTime",
    "batchId",
    "rejectionNote",
    "usage",
}
LEGACY_WORKFLOW_DATES = {"initialRunAt", "reviewedAt", "startTime", "endTime", "createdAt", "updatedAt"}
_DELETE = object()


@pytest.fixture(scope="module")
def world() -> Any:
    from extend_simulator import SimConfig

    s = Simulator(
        SimConfig(
            seed=42,
            history=600,
            qps_limit=None,
            rates={
                "workflow": 30.0,
                "extract": 40.0,
                "classify": 20.0,
                "split": 10.0,
                "parse": 40.0,
                "edit": 10.0,
                "verify": 20.0,
            },
            failure_rate=0.1,
            cancel_rate=0.05,
            needs_review_rate=0.4,
            review_seconds=60.0,
            touch_rate=0.5,
            touch_seconds=20.0,
        )
    )
    s.start()
    for family in ("extract", "classify", "split"):
        for source in ("EVAL_SET", "PLAYGROUND", "STUDIO"):
            s.submit_batch(family, 4, legacy_source=source)
    s.submit_batch("extract", 3, hold_seconds=1000.0, legacy_source="EVAL_SET")  # still PENDING at the end
    s.advance(400)
    yield s
    s.stop()


def _pages(s: Simulator, path: str, version: str) -> list[dict[str, Any]]:
    with client(s) as c:
        return list(iter_pages(c, path, {"maxPageSize": 250}, version))


@pytest.mark.parametrize("path", list(NEW_MODELS))
def test_2026_list_responses_match_sdk_models(world: Simulator, path: str) -> None:
    envelope, summary = NEW_MODELS[path]
    statuses: set[str] = set()
    pages = _pages(world, path, V_NEW)
    for page in pages:
        check_model(page, envelope)
        for item in page["data"]:
            # every documented field is emitted (nullable ones as null): exactly the SDK's field set
            assert set(item) == field_keys(summary), set(item) ^ field_keys(summary)
            statuses.add(item["status"])
            assert (item["usage"] is not None) == (item["status"] == "PROCESSED")
            if "failureReason" in item:
                assert (item["failureReason"] is not None) == (item["status"] == "FAILED")
    assert "PROCESSED" in statuses and "FAILED" in statuses and len(statuses) >= 3


@pytest.mark.parametrize("version", [V_NEW, V_OLD])
def test_legacy_processor_runs_match_sdk_model(world: Simulator, version: str) -> None:
    types_seen: set[str] = set()
    for page in _pages(world, "/processor_runs", version):
        check_model(page, ProcessorRunListResponse)
        assert set(page) == {"success", "processorRuns", "nextPageToken"}
        for item in page["processorRuns"]:
            assert set(item) <= field_keys(LegacyProcessorRunSummary)
            assert ("usage" in item) == (item["status"] == "PROCESSED")
            types_seen.add(item["type"])
    assert types_seen == {"EXTRACT", "CLASSIFY", "SPLITTER"}


def test_legacy_workflow_runs_match_documented_fields(world: Simulator) -> None:
    seen_optional: set[str] = set()
    for page in _pages(world, "/workflow_runs", V_OLD):
        assert set(page) == {"success", "workflowRuns", "nextPageToken"} and page["success"] is True
        assert page["nextPageToken"] is None or isinstance(page["nextPageToken"], str)
        for item in page["workflowRuns"]:
            keys = set(item)
            assert keys >= LEGACY_WORKFLOW_REQUIRED, LEGACY_WORKFLOW_REQUIRED - keys
            assert keys <= LEGACY_WORKFLOW_REQUIRED | LEGACY_WORKFLOW_OPTIONAL, keys
            seen_optional |= keys & LEGACY_WORKFLOW_OPTIONAL
            assert item["status"] in WORKFLOW_STATUSES
            for k in keys & LEGACY_WORKFLOW_DATES:
                assert isinstance(item[k], str) and RFC3339_UTC.match(item[k]), (k, item[k])
            for k in keys - LEGACY_WORKFLOW_DATES - {"usage"}:
                assert isinstance(item[k], str), (k, item[k])
            if "usage" in item:
                assert set(item["usage"]) == {"credits"} and isinstance(item["usage"]["credits"], float)
            assert item["id"].startswith("workflow_run_") and item["workflowId"].startswith("workflow_")
    assert seen_optional == LEGACY_WORKFLOW_OPTIONAL


def test_batch_responses_match_sdk_models(world: Simulator) -> None:
    with client(world) as c:
        for fam in ("extract", "classify", "split", "parse"):
            for bid in world.batch_ids(fam)[:3]:
                r = c.get(f"/batch_runs/{bid}")
                check_model(r.json(), BatchRun)
                if fam != "parse":
                    for version in (V_NEW, V_OLD):
                        r = c.get(f"/batch_processor_runs/{bid}", headers={"x-extend-api-version": version})
                        check_model(r.json(), BatchProcessorRunGetResponse)


def test_legacy_batch_processor_runs_and_evaluation_set_runs_match_sdk_models(world: Simulator) -> None:
    """Legacy batch processor runs (EVAL_SET, PLAYGROUND, STUDIO) in both versions; the EVAL_SET ones also
    as evaluation set runs, with the metrics of every entity type, finished and still pending."""
    seen: set[tuple[str, str]] = set()
    with client(world) as c:
        for fam in ("extract", "classify", "split"):
            for bid in world.batch_ids(fam, legacy=True):
                assert c.get(f"/batch_runs/{bid}").status_code == 404  # not a batch run
                for version in (V_NEW, V_OLD):
                    r = c.get(f"/batch_processor_runs/{bid}", headers={"x-extend-api-version": version})
                    check_model(r.json(), BatchProcessorRunGetResponse)
                legacy = r.json()["batchProcessorRun"]
                evaluation = c.get(f"/evaluation_set_runs/{bid}")
                if legacy["source"] != "EVAL_SET":
                    assert evaluation.status_code == 404
                    continue
                check_model(evaluation.json(), EvaluationSetRun)
                body = evaluation.json()
                assert body["metrics"]["numFilesTotal"] == legacy["runCount"]
                seen.add((body["metrics"]["type"], body["status"]))
        old = c.get(f"/evaluation_set_runs/{bid}", headers={"x-extend-api-version": V_OLD})
        assert old.status_code == 404
    assert {t for t, _ in seen} == {"EXTRACT", "CLASSIFY", "SPLITTER"}
    assert {s for _, s in seen} >= {"PENDING", "PROCESSED"}


def test_error_bodies_match_sdk_models(world: Simulator) -> None:
    with client(world) as c:
        r = c.get("/extract_runs", params={"maxPageSize": 0})
        check_model(r.json(), ApiError)
        r = c.get("/processor_runs", params={"maxPageSize": 0}, headers={"x-extend-api-version": V_OLD})
        check_model(r.json(), LegacyError)
        r = c.get("/extract_runs", headers={"Authorization": "Bearer nope"})
        check_model(r.json(), ApiError)


def test_checker_catches_missing_wrong_and_extra_fields(world: Simulator) -> None:
    with client(world) as c:
        page = c.get("/extract_runs", params={"maxPageSize": 3}).json()
    check_model(page, ExtractRunsListResponse)
    mutations: list[tuple[str, str | None, Any]] = [
        ("dashboardUrl", None, _DELETE),  # missing required field
        ("reviewed", None, "true"),  # wrongly typed
        ("status", None, "DONE"),  # unknown enum value
        ("source", None, "API"),  # unknown extra field
        ("createdAt", None, "2026-11-01 00:00:00"),  # not RFC 3339
        ("file", "name", 42),  # nested wrong type
    ]
    for key, sub, value in mutations:
        item = dict(page["data"][0], file=dict(page["data"][0]["file"]))
        target = item if sub is None else item[key]
        field = key if sub is None else sub
        if value is _DELETE:
            del target[field]
        else:
            target[field] = value
        bad = {**page, "data": [item]}
        with pytest.raises((Mismatch, pydantic.ValidationError)):
            check_model(bad, ExtractRunsListResponse)


def test_fidelity_under_ms_precision_and_null_end_tokens(make_sim: MakeSim) -> None:
    s = make_sim(seed=6, history=200, timestamp_precision="ms", end_token_style="null")
    s.advance(120)
    for path, (envelope, _) in NEW_MODELS.items():
        for page in _pages(s, path, V_NEW):
            check_model(page, envelope)
            assert "nextPageToken" in page


def _items(s: Simulator, path: str) -> list[dict[str, Any]]:
    return [item for page in _pages(s, path, V_NEW) for item in page["data"]]


def test_verify_summaries_carry_source_risk_metrics_and_full_usage(world: Simulator) -> None:
    """EXTEND_API.md §2.8 / SDK VerifyRunSummary: the one summary with its source; riskLevel, metrics
    and usage (a RunUsage with breakdown) only once PROCESSED."""
    items = _items(world, "/verify_runs")
    assert {i["status"] for i in items} >= {"PROCESSED", "FAILED", "PROCESSING"}
    for item in items:
        assert item["source"] in ("API", "STUDIO") and item["id"].startswith("vr_")
        processed = item["status"] == "PROCESSED"
        assert (item["riskLevel"] is not None) == processed
        assert (item["metrics"] is not None) == processed
        if processed:
            assert isinstance(item["metrics"]["processingTimeMs"], float)
            assert item["usage"]["breakdown"] and item["usage"]["totalCredits"] >= item["usage"]["credits"]
    assert {i["riskLevel"] for i in items} == {None, "LOW", "MEDIUM", "HIGH"}
    with client(world) as c:
        high = c.get("/verify_runs", params={"riskLevel": "HIGH", "maxPageSize": 1000}).json()["data"]
        assert high and all(i["status"] == "PROCESSED" and i["riskLevel"] == "HIGH" for i in high)
        api = c.get("/verify_runs", params={"source": "API", "maxPageSize": 1000}).json()["data"]
        assert api and all(i["source"] == "API" for i in api)


REASON_PATHS = ("/extract_runs", "/classify_runs", "/split_runs", "/parse_runs", "/edit_runs", "/verify_runs")


def test_failure_reasons_are_documented_values_and_some_no_document_lists(world: Simulator) -> None:
    from exporter.kinds import KINDS

    undocumented: set[str] = set()
    for path in REASON_PATHS:
        spec = next(k for k in KINDS.values() if k.path == path)
        assert spec.failure_reasons is not None
        reasons = {i["failureReason"] for i in _items(world, path) if i["status"] == "FAILED"}
        assert reasons, path
        undocumented |= reasons - set(spec.failure_reasons)
    assert undocumented, "no failure reason outside the documented lists: pass-through untested"


def test_processed_runs_carry_metrics_and_callers_usage_tags(world: Simulator) -> None:
    for path in ("/parse_runs", "/edit_runs"):
        for item in _items(world, path):
            assert (item["metrics"] is not None) == (item["status"] == "PROCESSED"), item
    tagged = 0
    for path in ("/extract_runs", "/classify_runs", "/split_runs", "/parse_runs", "/verify_runs"):
        for item in _items(world, path):
            meta = item["metadata"]
            if meta is not None:
                tags = meta["extend:usage_tags"]
                assert tags and all(
                    isinstance(t, str) and t.replace("-", "").replace("_", "").isalnum() for t in tags
                )
                tagged += 1
    assert tagged > 0
