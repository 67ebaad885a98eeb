"""Event types of both API versions: the kinds each one makes sync, the batch it names, its label."""

from __future__ import annotations

import pytest

from exporter.metrics.labels import OTHER, WEBHOOK_EVENT_TYPES
from exporter.webhooks.events import KNOWN_EVENT_TYPES, Malformed, parse_event

PROCESSOR_KINDS = ("extract_run", "classify_run", "split_run", "processor_run")


def event(event_type: str, payload: object = None) -> dict[str, object]:
    return {"eventId": "evt_1", "eventType": event_type, "payload": payload or {"id": "x"}}


def test_the_label_list_is_the_known_list() -> None:
    assert sorted(KNOWN_EVENT_TYPES) == sorted(WEBHOOK_EVENT_TYPES)
    assert len(set(KNOWN_EVENT_TYPES)) == len(KNOWN_EVENT_TYPES)


@pytest.mark.parametrize(
    ("event_type", "kinds"),
    [
        ("workflow_run.completed", ("workflow_run",)),
        ("workflow_run.failed", ("workflow_run",)),
        ("workflow_run.needs_review", ("workflow_run",)),
        ("workflow_run.rejected", ("workflow_run",)),
        ("workflow_run.cancelled", ("workflow_run",)),
        ("extract_run.failed", ("extract_run", "processor_run")),
        ("classify_run.processed", ("classify_run", "processor_run")),
        ("split_run.failed", ("split_run", "processor_run")),
        ("parse_run.processed", ("parse_run",)),
        ("edit_run.failed", ("edit_run",)),
        # 2025-04-21 names (§5.3's map)
        ("parser_run.failed", ("parse_run",)),
        # known, nothing to sync
        ("workflow_run.step_run.processed", ()),
        ("form_detection_run.processed", ()),
    ],
)
def test_run_events_name_the_kinds_that_list_the_run(event_type: str, kinds: tuple[str, ...]) -> None:
    parsed = parse_event(event(event_type))
    assert parsed.known and parsed.label == event_type
    assert parsed.kinds == kinds and parsed.batch_id is None


@pytest.mark.parametrize(
    ("run_type", "kinds"),
    [
        ("EXTRACT", ("extract_run", "processor_run")),
        ("CLASSIFY", ("classify_run", "processor_run")),
        ("SPLITTER", ("split_run", "processor_run")),
        (None, PROCESSOR_KINDS),  # a signed-URL stub carries no type
    ],
)
def test_legacy_processor_run_events_map_by_type(run_type: str | None, kinds: tuple[str, ...]) -> None:
    payload = {"object": "document_processor_run", "id": "dpr_1", "type": run_type}
    if run_type is None:
        payload = {"object": "signed_data_url", "data": "https://example.invalid/x", "id": "dpr_1"}
    for ending in ("processed", "failed"):
        assert parse_event(event(f"processor_run.{ending}", payload)).kinds == kinds


def test_batch_events_name_their_batch_even_behind_a_signed_url() -> None:
    parse = parse_event(event("batch_parse_run.processed", {"object": "batch_run", "id": "bpr_1"}))
    assert (parse.kinds, parse.batch_id) == (("parse_run",), "bpr_1")
    stub = {"object": "signed_data_url", "data": "https://example.invalid/x", "id": "batch_7"}
    processors = parse_event(event("batch_processor_run.failed", stub))
    assert (processors.kinds, processors.batch_id) == (PROCESSOR_KINDS, "batch_7")
    with pytest.raises(Malformed):
        parse_event(event("batch_parse_run.failed", {"object": "batch_run"}))


@pytest.mark.parametrize(
    "event_type", ["extractor.created", "workflow.deployed", "processor.version.published", "thing.new"]
)
def test_other_types_are_unknown_and_labelled_other(event_type: str) -> None:
    parsed = parse_event(event(event_type))
    assert not parsed.known and parsed.label == OTHER and parsed.kinds == ()


@pytest.mark.parametrize(
    "body",
    [
        [],
        "text",
        {"eventType": "extract_run.failed"},
        {"eventId": "", "eventType": "extract_run.failed"},
        {"eventId": "e", "eventType": 7},
        {"eventId": "e", "eventType": "extract_run.failed", "payload": [1]},
    ],
)
def test_not_an_envelope_is_malformed(body: object) -> None:
    with pytest.raises(Malformed):
        parse_event(body)
