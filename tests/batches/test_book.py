"""The batch book's rules: each batch counted once when it ends, never one that ended before counting
began, the cap with its left-out counted, retention, and exact counts across a state-file round trip."""

from __future__ import annotations

import orjson

from exporter.batches.book import BatchBook
from exporter.batches.records import BatchReading
from exporter.engine.observation import Observation
from exporter.kinds import KINDS

PARSE = KINDS["parse_run"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def book(clock: Clock, max_batches: int = 100, retention: float = 3600.0) -> BatchBook:
    b = BatchBook(
        ("parse_run", "workflow_run"), max_batches=max_batches, retention_seconds=retention, clock=clock
    )
    b.counting_began(500.0)
    return b


def run(
    run_id: str, status: str, batch_id: str, created: float = 600.0, updated: float = 610.0
) -> Observation:
    return Observation(run_id, status, created, updated, batch_id=batch_id)


def see(b: BatchBook, *runs: Observation) -> None:
    b.observed(PARSE, {r.id: r for r in runs}, floor=0.0, listed={})


def finished(b: BatchBook) -> dict[tuple[str, str], int]:
    return {k: v for k, v in b.snapshot().finished.items() if v}


def test_a_batch_counts_once_when_it_ends_and_one_that_ended_before_counting_never() -> None:
    clock = Clock()
    b = book(clock)
    see(b, run("r1", "PENDING", "bpar_new"), run("r2", "PROCESSED", "bpar_old", created=100.0))
    b.read("bpar_new", BatchReading("PROCESSING", run_count=2, created_at=600.0))
    b.read("bpar_old", BatchReading("PROCESSED", run_count=1, created_at=100.0))
    assert finished(b) == {}
    assert b.snapshot().active[("parse_run", "PROCESSING")] == 1
    b.read("bpar_new", BatchReading("PROCESSED", run_count=2, created_at=600.0))
    b.read("bpar_new", BatchReading("PROCESSED", run_count=2, created_at=600.0))
    b.read("bpar_new", BatchReading("FAILED", run_count=2, created_at=600.0))  # done is done
    assert finished(b) == {("parse_run", "PROCESSED"): 1}
    assert b.snapshot().active[("parse_run", "PROCESSING")] == 0


def test_the_cap_drops_the_oldest_finished_first_and_counts_what_it_leaves_out() -> None:
    clock = Clock()
    b = book(clock, max_batches=2)
    see(b, run("a1", "PENDING", "bpar_a"), run("b1", "PENDING", "bpar_b"))
    b.read("bpar_a", BatchReading("PROCESSING", created_at=600.0))
    b.read("bpar_b", BatchReading("PROCESSING", created_at=600.0))
    see(b, run("c1", "PENDING", "bpar_c"))  # both tracked are active: c is left out, counted once
    see(b, run("c1", "PROCESSING", "bpar_c"))
    assert b.snapshot().left_out["parse_run"] == 1
    assert {row.id for row in b.snapshot().batches} == {"bpar_a", "bpar_b"}
    clock.now += 10
    b.read("bpar_b", BatchReading("PROCESSED", created_at=600.0))
    clock.now += 10
    b.read("bpar_a", BatchReading("PROCESSED", created_at=600.0))
    see(b, run("d1", "PENDING", "bpar_d"))  # b finished first: it goes
    b.read("bpar_d", BatchReading("PENDING", created_at=600.0))
    assert {row.id for row in b.snapshot().batches} == {"bpar_a", "bpar_d"}
    see(b, run("b1", "PROCESSED", "bpar_b"))  # seen again: neither tracked nor counted twice
    assert finished(b) == {("parse_run", "PROCESSED"): 2}
    assert b.snapshot().left_out["parse_run"] == 1


def test_one_listing_may_name_a_finished_batch_and_a_new_one_that_pushes_it_out() -> None:
    """At the cap, a new batch seen after a run of a finished one in the same listing drops that one:
    the listing's other runs of it are then no one's (bench.api_cost, busy at 100k runs: a KeyError
    failed every parse_run sync)."""
    clock = Clock()
    b = book(clock, max_batches=1)
    see(b, run("a1", "PENDING", "bpar_a"))
    b.read("bpar_a", BatchReading("PROCESSED", created_at=600.0))
    clock.now += 10
    see(b, run("a1", "PROCESSED", "bpar_a"), run("n1", "PENDING", "bpar_new"))
    b.read("bpar_new", BatchReading("PENDING", created_at=600.0))
    assert {row.id for row in b.snapshot().batches} == {"bpar_new"}
    assert finished(b) == {("parse_run", "PROCESSED"): 1}
    assert b.snapshot().left_out.get("parse_run", 0) == 0


def test_a_finished_batch_leaves_after_its_retention() -> None:
    clock = Clock()
    b = book(clock, retention=60.0)
    see(b, run("a1", "PROCESSING", "bpar_a"))
    b.read("bpar_a", BatchReading("PROCESSING", created_at=600.0))
    b.read("bpar_a", BatchReading("PROCESSED", created_at=600.0))
    b.settle()
    assert [row.id for row in b.snapshot().batches] == ["bpar_a"]
    clock.now += 60
    b.settle()
    assert b.snapshot().batches == ()
    assert finished(b) == {("parse_run", "PROCESSED"): 1}


def test_counts_survive_a_state_file_round_trip_and_a_batch_is_not_counted_again() -> None:
    clock = Clock()
    b = book(clock)
    see(b, run("a1", "PROCESSING", "bpar_a"), run("b1", "PENDING", "bpar_b"))
    b.read("bpar_a", BatchReading("PROCESSING", created_at=600.0))
    b.read("bpar_b", BatchReading("PENDING", created_at=600.0))
    b.read("bpar_a", BatchReading("FAILED", created_at=600.0))
    restored = BatchBook(("parse_run", "workflow_run"), clock=clock)
    restored.load_dict(orjson.loads(orjson.dumps(b.to_dict())))
    assert restored.snapshot().finished == b.snapshot().finished
    restored.read("bpar_a", BatchReading("FAILED", created_at=600.0))
    restored.read("bpar_b", BatchReading("PROCESSED", created_at=600.0))  # seen PENDING before the restart
    assert finished(restored) == {("parse_run", "FAILED"): 1, ("parse_run", "PROCESSED"): 1}
    # Its runs' statuses are not kept: listed again, and shown as they were until then.
    assert dict(restored.snapshot().batches[1].runs)["PENDING"] == 1


def test_a_batch_named_by_kind_is_read_by_the_sync_of_the_first_candidate_synced_here() -> None:
    """A webhook's batch is read by the sync the webhook asks for, not only by the host kind's next one;
    one whose candidates are all unsynced, or a batch of a kind not synced, by the host's."""
    b = book(Clock())
    synced = frozenset({"parse_run", "classify_run", "split_run"})
    for kind in ("extract_run", "classify_run", "split_run", "processor_run"):  # batch_processor_run.*
        b.watch("bpr_event", (kind,))
    b.watch("bpr_legacy", ("processor_run",))
    b.watch("bpar_named", ("parse_run",))
    b.watch("bpr_setting")  # EXTEND_EXPORTER_BATCH_IDS: no kind given

    def due(kind: str, host: bool = False) -> set[str]:
        return {d.id for d in b.due(kind, host=host, synced=synced)}

    assert due("classify_run") == {"bpr_event"}
    assert due("split_run") == set()  # read once, by one sync
    assert due("parse_run") == {"bpar_named"}
    assert due("parse_run", host=True) == {"bpar_named", "bpr_legacy", "bpr_setting"}
    b.resolve("bpr_event", "processor_run")  # resolved to a kind not synced here: the host reads it
    assert due("classify_run") == set()
    assert "bpr_event" in due("parse_run", host=True)
