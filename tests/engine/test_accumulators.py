"""What a finish adds to besides the core counters: failure reasons, pages, processing time, risk, tags."""

from __future__ import annotations

from typing import Any

from exporter.engine.kind_state import KindState, Observation
from exporter.kinds import KINDS
from exporter.metrics.labels import MAX_EXTRA_VALUES
from exporter.sync.summaries import observation

OVERLAP = 60.0


def summary(rid: str, status: str, created: int, updated: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": rid,
        "status": status,
        "createdAt": f"2026-11-01T00:{created // 60:02d}:{created % 60:02d}Z",
        "updatedAt": f"2026-11-01T00:{updated // 60:02d}:{updated % 60:02d}Z",
        **fields,
    }


def counting(kind: str, tags: frozenset[str] = frozenset()) -> KindState:
    state = KindState(KINDS[kind], usage_tags=tags)
    state.apply([], {}, overlap=OVERLAP, new_position=0.0, baseline=True)
    return state


def finish(state: KindState, *items: dict[str, Any]) -> None:
    observed = [observation(state.spec, s) for s in items]
    top = max(o.updated_at for o in observed)
    state.apply(observed, dict.fromkeys((o.id for o in observed), "API"), overlap=OVERLAP, new_position=top)


def rows(state: KindState, family: str) -> dict[tuple[str, ...], Any]:
    return dict(state.snapshot().families[family])


def failed(state: KindState) -> dict[tuple[str, ...], Any]:
    return rows(state, "extend_runs_failed")


def test_documented_reasons_and_out_of_credits_start_at_zero() -> None:
    for kind in ("extract_run", "classify_run", "split_run", "parse_run", "edit_run", "verify_run"):
        spec = KINDS[kind]
        assert spec.failure_reasons is not None
        counts = failed(counting(kind))
        assert set(counts) == {(r,) for r in (*spec.failure_reasons, "OUT_OF_CREDITS")}
        assert not any(counts.values())
    for kind in ("workflow_run", "processor_run"):  # their summaries carry no failureReason
        assert "extend_runs_failed" not in counting(kind).snapshot().families


def test_reason_counts_once_per_run_undocumented_passes_through_missing_is_unspecified() -> None:
    state = counting("parse_run")
    finish(
        state,
        summary("a", "FAILED", 1, 2, failureReason="CORRUPT_FILE"),
        summary("b", "FAILED", 1, 3, failureReason="BRAND_NEW_REASON"),
        summary("c", "FAILED", 1, 4, failureReason=None),
    )
    finish(state, summary("a", "FAILED", 1, 2, failureReason="CORRUPT_FILE"))  # seen again
    counts = failed(state)
    assert counts[("CORRUPT_FILE",)] == 1
    assert counts[("BRAND_NEW_REASON",)] == 1
    assert counts[("UNSPECIFIED",)] == 1
    assert sum(counts.values()) == sum(v for k, v in state.finished.items() if k[0] == "FAILED")


def test_undocumented_reasons_are_capped_per_kind_overflow_other() -> None:
    state = counting("extract_run")
    n = MAX_EXTRA_VALUES + 3
    finish(state, *(summary(f"r{i}", "FAILED", 1, 2 + i, failureReason=f"NEW_{i}") for i in range(n)))
    finish(state, summary("bad", "FAILED", 1, 40, failureReason="not a {label}\n"))
    counts = failed(state)
    extras = {k for k in counts if k[0].startswith("NEW_")}
    assert len(extras) == MAX_EXTRA_VALUES
    assert counts[("OTHER",)] == n - MAX_EXTRA_VALUES + 1


def test_processed_verify_counts_pages_processing_risk_and_tagged_credits() -> None:
    state = counting("verify_run", frozenset({"team-a", "b"}))
    finish(
        state,
        summary(
            "v1",
            "PROCESSED",
            1,
            5,
            source="STUDIO",
            riskLevel="HIGH",
            metrics={"processingTimeMs": 1500.0, "pageCount": 3},
            usage={"credits": 2.5},
            metadata={"extend:usage_tags": ["team-a", "b", "unlisted"]},
        ),
        summary("v2", "PROCESSED", 1, 6, source="API", riskLevel=None, metrics={"processingTimeMs": 10.0}),
        summary("v3", "PROCESSING", 1, 7, source="API"),
    )
    assert rows(state, "extend_run_pages") == {(): 3.0}
    (_, (buckets, total, count)) = next(iter(rows(state, "extend_run_processing_seconds").items()))
    assert count == 2 and abs(total - 1.51) < 1e-9 and sum(buckets) == 2
    assert rows(state, "extend_runs_processed_by_risk_level") == {
        ("LOW",): 0,
        ("MEDIUM",): 0,
        ("HIGH",): 1,
        ("UNSPECIFIED",): 1,
    }
    assert rows(state, "extend_run_credits_by_tag") == {("b",): 2.5, ("team-a",): 2.5}
    # the source comes from the summary: no attribution needed, and it lands in the run families
    assert state.created[("STUDIO", "")] == 1 and state.created[("API", "")] == 2
    assert not state.needs_source(Observation("v9", "PROCESSING", 10, 10), baseline=False)


def test_state_round_trip_and_an_old_state_file_without_the_sections() -> None:
    state = counting("edit_run")
    finish(
        state,
        summary("e1", "FAILED", 1, 2, failureReason="EMPTY_SCHEMA"),
        summary("e2", "PROCESSED", 1, 3, metrics={"processingTimeMs": 2000.0, "pageCount": 4}),
    )
    data = state.to_dict()
    restored = KindState(KINDS["edit_run"])
    restored.load_dict(data)
    assert restored.snapshot().families == state.snapshot().families
    old = {k: v for k, v in data.items() if k not in ("failed_by_reason", "pages", "processing_seconds")}
    legacy = KindState(KINDS["edit_run"])
    legacy.load_dict(old)  # a file written before these families existed still loads
    assert legacy.finished == state.finished
    assert not any(failed(legacy).values())
    assert rows(legacy, "extend_run_pages") == {(): 0.0}
