"""The counting rule of engine.KindState, one behaviour at a time."""

from __future__ import annotations

from exporter.engine.kind_state import KindState, Observation, ResourceLabels
from exporter.engine.observation import Detail
from exporter.kinds import KINDS, UNKNOWN_SOURCE, Order

OVERLAP = 60.0


def obs(rid: str, status: str, created: float, updated: float, **kw: object) -> Observation:
    return Observation(rid, status, created, updated, **kw)  # type: ignore[arg-type]


def baseline(state: KindState, *items: Observation, position: float = 1000.0) -> None:
    sources = {o.id: "API" for o in items}
    state.apply(items, sources, overlap=OVERLAP, new_position=position, baseline=True)


def test_runs_finished_before_counting_began_are_not_counted() -> None:
    state = KindState(KINDS["extract_run"])
    baseline(state, obs("a", "PROCESSED", 100, 990, processor_type="EXTRACT"))
    assert sum(state.finished.values()) == 0
    assert sum(state.created.values()) == 0


def test_active_run_finishing_counts_once_even_when_seen_again() -> None:
    state = KindState(KINDS["extract_run"])
    baseline(state, obs("a", "PROCESSING", 100, 990, processor_type="EXTRACT"))
    for updated in (1010, 1020):
        state.apply(
            [obs("a", "FAILED", 100, updated, processor_type="EXTRACT")],
            {},
            overlap=OVERLAP,
            new_position=updated,
        )
    assert state.finished[("FAILED", "API", "EXTRACT")] == 1
    assert sum(state.created.values()) == 0  # it existed before counting began


def test_new_run_counts_created_and_finished_with_its_source() -> None:
    state = KindState(KINDS["classify_run"])
    baseline(state)
    state.apply(
        [obs("n", "PROCESSED", 1005, 1010, processor_type="CLASSIFY", credits=2.5)],
        {"n": "STUDIO"},
        overlap=OVERLAP,
        new_position=1010,
    )
    assert state.created[("STUDIO", "CLASSIFY")] == 1
    assert state.finished[("PROCESSED", "STUDIO", "CLASSIFY")] == 1
    assert state.credits[("STUDIO", "CLASSIFY")] == 2.5
    hist = state.durations[("PROCESSED", "CLASSIFY")]
    assert hist.count == 1 and hist.total == 5.0


def test_old_finished_run_touched_again_is_not_counted_again() -> None:
    """A PROCESSED run reviewed much later comes back with a new updatedAt but an old createdAt."""
    state = KindState(KINDS["extract_run"])
    baseline(state)
    state.apply([obs("old", "PROCESSED", 10, 5000)], {}, overlap=OVERLAP, new_position=5000)
    assert sum(state.finished.values()) == 0
    assert state.needs_source(obs("old2", "PROCESSED", 10, 6000), baseline=False) is False


def test_each_terminal_status_counts_once_per_run() -> None:
    state = KindState(KINDS["workflow_run"])
    baseline(state, obs("w", "PROCESSING", 900, 990))
    state.apply([obs("w", "FAILED", 900, 1010)], {}, overlap=OVERLAP, new_position=1010)
    state.apply([obs("w", "PROCESSING", 900, 1020)], {}, overlap=OVERLAP, new_position=1020)
    state.apply([obs("w", "FAILED", 900, 1030)], {}, overlap=OVERLAP, new_position=1030)
    state.apply([obs("w", "PROCESSED", 900, 1040)], {}, overlap=OVERLAP, new_position=1040)
    assert state.finished[("FAILED", "", "")] == 1
    assert state.finished[("PROCESSED", "", "")] == 1


def test_reconcile_drops_deleted_active_runs() -> None:
    state = KindState(KINDS["edit_run"])
    baseline(state, obs("x", "PROCESSING", 900, 990), obs("y", "PROCESSING", 900, 990))
    state.apply([], {}, overlap=OVERLAP, new_position=1000, reconciled={"y"})
    snap = state.snapshot()
    assert snap.active[("PROCESSING", "API", "")] == 1


def test_unknown_status_and_source_are_counted_not_dropped() -> None:
    state = KindState(KINDS["extract_run"])
    baseline(state)
    state.apply(
        [obs("z", "ARCHIVED", 1001, 1002, processor_type="EXTRACT")], {}, overlap=OVERLAP, new_position=1002
    )
    assert state.finished[("ARCHIVED", UNKNOWN_SOURCE, "EXTRACT")] == 1


def test_known_label_combinations_start_at_zero() -> None:
    state = KindState(KINDS["processor_run"])
    assert state.finished[("FAILED", "API", "SPLITTER")] == 0
    assert state.snapshot().active[("PENDING", "WORKFLOW_RUN", "CLASSIFY")] == 0


def test_per_resource_labels_are_capped() -> None:
    state = KindState(KINDS["extract_run"], ResourceLabels(enabled=True, max_values=1))
    baseline(state)
    items = [obs(f"r{i}", "FAILED", 1001, 1002, resource=(f"ex_{i}", f"Extractor {i}")) for i in range(3)]
    state.apply(items, {o.id: "API" for o in items}, overlap=OVERLAP, new_position=1002)
    assert state.finished_by_resource == {
        ("FAILED", "ex_0"): 1,
        ("FAILED", "OTHER"): 2,
        ("PROCESSED", "ex_0"): 0,
        ("PROCESSED", "OTHER"): 0,
        ("CANCELLED", "ex_0"): 0,
        ("CANCELLED", "OTHER"): 0,
    }
    assert state.resource_names == {"ex_0": "Extractor 0"}


def test_state_round_trips() -> None:
    state = KindState(KINDS["workflow_run"])
    baseline(state, obs("w", "NEEDS_REVIEW", 900, 990))
    state.apply([obs("v", "REJECTED", 1001, 1003, credits=1.0)], {}, overlap=OVERLAP, new_position=1003)
    copy = KindState(KINDS["workflow_run"])
    copy.load_dict(state.to_dict())
    assert copy.snapshot() == state.snapshot()
    assert copy.position == state.position


def test_state_file_keeps_an_entry_as_a_positional_list() -> None:
    state = KindState(KINDS["extract_run"], ResourceLabels(enabled=True))
    baseline(state, obs("a", "PROCESSING", 100, 990, processor_type="EXTRACT", resource=("ex_1", "X")))
    state.apply(
        [obs("a", "PROCESSED", 100, 1010, processor_type="EXTRACT", credits=1.0)],
        {},
        overlap=OVERLAP,
        new_position=1010,
    )
    assert state.to_dict()["entries"] == {
        "a": ["PROCESSED", "API", "EXTRACT", 100.0, 1010.0, ["$credited", "PROCESSED"], "ex_1"]
    }


# --- what the sync asks of the ledger -------------------------------------------------------------


def parse_state() -> KindState:
    """A parse_run state after a baseline: a, b active (created 100, 900), c finished, d active."""
    state = KindState(KINDS["parse_run"])
    baseline(
        state,
        obs("a", "PROCESSING", 100, 990),
        obs("b", "PENDING", 900, 990),
        obs("c", "PROCESSED", 980, 995),
        obs("d", "PROCESSING", 400, 990),
    )
    return state


def test_active_created_before_lists_only_old_active_runs() -> None:
    state = parse_state()
    assert state.active_created_before(500) == {"a": 100.0, "d": 400.0}
    assert state.active_created_before(100) == {}
    assert state.oldest_active_key() == 100.0


def test_forget_active_drops_only_runs_still_tracked_as_active() -> None:
    state = parse_state()
    state.forget_active(["a", "c", "never-seen"])
    snap = state.snapshot()
    assert snap.tracked == 3  # c (terminal) stays until it leaves the window
    assert state.source_of("a") is None and state.source_of("c") == "API"
    assert sum(snap.active.values()) == 2


def test_source_of_and_source_weight() -> None:
    state = KindState(KINDS["classify_run"])
    baseline(state, obs("old", "PROCESSING", 900, 990))
    items = [obs(f"n{i}", "PROCESSING", 1001, 1002) for i in range(3)]
    state.apply(items, {"n0": "STUDIO", "n1": "STUDIO"}, overlap=OVERLAP, new_position=1002)
    assert state.source_of("old") == "API"  # the baseline's source, not counted as created
    assert (state.source_of("n0"), state.source_of("n2")) == ("STUDIO", UNKNOWN_SOURCE)
    assert state.source_of("unknown") is None
    assert (state.source_weight("STUDIO"), state.source_weight(UNKNOWN_SOURCE)) == (2, 1)
    assert state.source_weight("API") == 0


def test_file_names_and_batches_are_kept_for_active_runs_only_and_across_restarts() -> None:
    state = parse_state()
    for rid in ("a", "b", "c", "e"):
        state.remember_lookups(rid, f"{rid}.pdf", f"bpar_{rid}" if rid != "b" else None)
    state.prune_lookups(["e"])  # e: seen active in this sync, not yet applied
    assert [state.file_name(r) for r in "abce"] == ["a.pdf", "b.pdf", None, "e.pdf"]
    assert [state.batch_of(r) for r in "abce"] == ["bpar_a", None, None, "bpar_e"]
    copy = KindState(KINDS["parse_run"])
    copy.load_dict(state.to_dict())
    assert copy.file_name("a") == "a.pdf" and copy.file_name("c") is None and copy.batch_of("a") == "bpar_a"
    copy.prune_lookups([])
    assert copy.file_name("e") is None and copy.batch_of("e") is None
    older = state.to_dict()
    del older["batch_ids"]  # a state file from before batches were kept
    copy.load_dict(older)
    assert copy.file_name("a") == "a.pdf" and copy.batch_of("a") is None


def test_adopt_order_changes_the_order_key_and_is_kept() -> None:
    state = parse_state()
    run = obs("x", "PROCESSING", 10, 20)
    assert state.effective_order is Order.CREATED and state.order_key(run) == 10
    state.adopt_order(Order.UPDATED)
    assert state.order_key(run) == 20
    copy = KindState(KINDS["parse_run"])
    copy.load_dict(state.to_dict())
    assert copy.effective_order is Order.UPDATED


def test_failed_runs_and_durations_keep_the_run_that_finished_last_per_series() -> None:
    state = KindState(KINDS["extract_run"])
    baseline(state)
    items = [
        obs("late", "FAILED", 1001, 1050, processor_type="EXTRACT", detail=Detail(failure_reason="TIMEOUT")),
        obs("early", "FAILED", 1002, 1020, processor_type="EXTRACT", detail=Detail(failure_reason="TIMEOUT")),
        obs("ok", "PROCESSED", 1003, 1004, processor_type="EXTRACT"),
    ]
    state.apply(items, {"late": "API", "early": "API", "ok": "STUDIO"}, overlap=OVERLAP, new_position=1050)
    examples = state.snapshot().examples
    assert examples["extend_runs_finished"] == {("FAILED", "API", "EXTRACT"): ("late", 1.0, 1050.0)}
    assert examples["extend_runs_failed"] == {("TIMEOUT",): ("late", 1.0, 1050.0)}
    assert examples["extend_run_duration_seconds"] == {
        ("FAILED", "EXTRACT", "60.0"): ("late", 49.0, 1050.0),
        ("FAILED", "EXTRACT", "30.0"): ("early", 18.0, 1020.0),
        ("PROCESSED", "EXTRACT", "1.0"): ("ok", 1.0, 1004.0),
    }
    copy = KindState(KINDS["extract_run"])
    copy.load_dict(state.to_dict())
    assert copy.snapshot().examples == examples
    older = state.to_dict()
    del older["examples"]  # a state file from before example runs were kept
    copy.load_dict(older)
    assert copy.snapshot().examples == {} and copy.snapshot().finished == state.snapshot().finished
