"""What an evaluation set run's answer becomes: scores overall and per field or class, the fields past
the cap pooled from their counts under OTHER, the entity type where `metrics` does not say it."""

from __future__ import annotations

import pytest

from exporter.batches.evaluations import Evaluation, read_evaluation


def extract_run(fields: dict[str, tuple[int, int]], *, with_type: bool = True) -> dict[str, object]:
    """An EvaluationSetRun of an extractor; fields: name -> (accurate, expected)."""
    metrics: dict[str, object] = {
        "accuracy": 0.5,
        "fieldMetrics": {
            name: {"countAccurate": float(a), "countExpected": float(e), "accuracy": a / e}
            for name, (a, e) in fields.items()
        },
        "numFilesTotal": 10.0,
        "numFilesProcessed": 0.0,
        "numPages": 30.0,
        "p50LatencyMs": 1200.0,
    }
    if with_type:
        metrics["type"] = "EXTRACT"
    return {
        "object": "evaluation_set_run",
        "id": "esr_1",
        "evaluationSetId": "ev_1",
        "entity": {"object": "extractor", "id": "ex_1"},
        "entityVersion": {"version": "3"},
        "metrics": metrics,
        "status": "PROCESSING",
    }


@pytest.mark.parametrize("with_type", [True, False])
def test_scores_files_and_latency_of_an_extractor_run(with_type: bool) -> None:
    e = Evaluation("esr_1")
    read_evaluation(extract_run({"a": (1, 2), "b": (3, 4)}, with_type=with_type), e, max_fields=25)
    assert (e.status, e.entity_type, e.entity_id, e.entity_version) == ("PROCESSING", "EXTRACT", "ex_1", "3")
    assert e.scores == {("accuracy", ""): 0.5, ("accuracy", "a"): 0.5, ("accuracy", "b"): 0.75}
    assert e.files == {"total": 10.0, "processed": 0.0}  # none processed yet is 0, not the total
    assert (e.pages, e.latency) == (30.0, {"0.5": 1.2})


def test_fields_past_the_cap_are_pooled_from_their_counts() -> None:
    e = Evaluation("esr_1")
    read_evaluation(extract_run({"a": (1, 2), "b": (3, 4), "c": (0, 6)}), e, max_fields=1)
    assert e.scores == {("accuracy", ""): 0.5, ("accuracy", "a"): 0.5, ("accuracy", "OTHER"): 3 / 10}


def test_a_run_without_a_status_is_a_bad_answer() -> None:
    body = extract_run({})
    del body["status"]
    with pytest.raises(ValueError):
        read_evaluation(body, Evaluation("esr_1"), max_fields=25)
