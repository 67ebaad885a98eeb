"""Batches: the status each one derives from its runs, its truth, and batch queues on demand.

A batch's status follows its live runs. EXTEND_API.md §2.9 documents the statuses, not the rule; this
is the simulator's choice, and for workflow batches (no endpoint) the exporter's documented reading:
PENDING while every run is PENDING (or none is left), PROCESSING while any run is active, else FAILED
when every run FAILED, CANCELLED when every run was cancelled (a legacy batch processor run has no
CANCELLED: FAILED), else PROCESSED.

``BatchBook`` keeps each batch's member counts and status as runs change (the truth calls it on every
created, changed and deleted run of a batch) and reports status changes to the truth. ``submit``
creates a batch now: its runs wait PENDING, then start one after another at a drain rate (a batch
queue), or after the usual queue time; or never (a batch already old that does not move, the demo's
incident); or they start and every one ends FAILED (a batch that failed, the incident too).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING

from .enums import (
    BATCH_SOURCES,
    CANCELLED,
    CANCELLING,
    FAILED,
    KIND,
    NEEDS_REVIEW,
    PENDING,
    PROCESSED,
    PROCESSING,
    PROCESSOR_RUN_KIND,
    SOURCES,
    Family,
)
from .model import Batch, Run, World
from .workload import START, Workload

if TYPE_CHECKING:
    from .truth import Truth

ACTIVE = frozenset({PENDING, PROCESSING, NEEDS_REVIEW, CANCELLING})
LEGACY_SOURCES = ("EVAL_SET", "PLAYGROUND", "STUDIO")


def derive_status(counts: Counter[str], legacy: bool) -> str:
    live = {status for status, n in counts.items() if n > 0}
    if not live or live == {PENDING}:
        return PENDING
    if live & ACTIVE:
        return PROCESSING
    if live == {FAILED}:
        return FAILED
    if live == {CANCELLED}:
        return FAILED if legacy else CANCELLED
    return PROCESSED


def batch_kind(batch: Batch) -> str:
    """The exporter's `kind` label of a batch: its runs' kind, processor_run for a legacy one."""
    return PROCESSOR_RUN_KIND if batch.legacy_source else KIND[batch.fam]


class BatchBook:
    """Member counts and status of every batch, kept as runs change; callers hold the simulator lock."""

    def __init__(self, world: World, truth: Truth) -> None:
        self.world = world
        self.truth = truth

    def rebuild(self) -> None:
        """Counts from scratch (after the history is loaded); history batches are not 'finished' events."""
        for batch in self.world.batches:
            batch.counts = Counter()
        for run in self.world.runs:
            if run is not None and run.batch >= 0:
                self.world.batches[run.batch].counts[run.status] += 1
        for batch in self.world.batches:
            batch.status = derive_status(batch.counts, batch.legacy_source is not None)
            self.truth.on_batch_seeded(batch_kind(batch), batch.status)

    def on_change(self, old: Run | None, new: Run | None) -> None:
        """A run of a batch was created (old None), changed, or deleted (new None)."""
        run = new if new is not None else old
        assert run is not None
        batch = self.world.batches[run.batch]
        if old is not None:
            batch.counts[old.status] -= 1
        if new is not None:
            batch.counts[new.status] += 1
        status = derive_status(batch.counts, batch.legacy_source is not None)
        if old is None and sum(batch.counts.values()) == 1:
            self.truth.on_batch_status(batch_kind(batch), None, status)  # the batch's first run
        elif status != batch.status:
            self.truth.on_batch_status(batch_kind(batch), batch.status, status)
        batch.status = status

    def members(self, batch: Batch) -> list[Run]:
        runs = self.world.runs
        return [r for r in (runs[s] for s in batch.seqs) if r is not None]


def submit(
    workload: Workload,
    fam: Family,
    size: int,
    *,
    hold_seconds: float = 0.0,
    drain_per_second: float | None = None,
    legacy_source: str | None = None,
    age_seconds: float = 0.0,
    failing: bool = False,
) -> Batch:
    """A batch of `size` runs, all PENDING, created `age_seconds` ago (now by default). With
    `drain_per_second`, run i starts at now + hold + i / rate (a queue draining at that rate); without,
    after hold plus the usual queue time; an infinite hold: never. `failing`: each run ends FAILED."""
    if legacy_source is not None and legacy_source not in LEGACY_SOURCES:
        raise ValueError(f"legacy_source must be one of {', '.join(LEGACY_SOURCES)}")
    if size < 1 or (drain_per_second is not None and drain_per_second <= 0):
        raise ValueError("a batch needs at least one run and a positive drain rate")
    world, now = workload.world, workload.clock.now_ms
    created = workload._q(now - int(age_seconds * 1000))
    proc = workload.rng.randrange(len(workload.catalog[fam])) if workload.catalog[fam] else 0
    batch = world.new_batch(fam, proc, created, legacy_source)
    source = next((s for s in SOURCES[fam] if s in BATCH_SOURCES), None)
    hold_ms = int(hold_seconds * 1000) if math.isfinite(hold_seconds) else None
    for i in range(size):
        seq = world.next_seq()
        run = Run(seq, fam, PENDING, source, proc, created, created, batch=batch.index)
        batch.seqs.append(seq)
        world.add(run)
        workload.truth.on_created(run)
        if hold_ms is None:
            continue  # waits for good
        if drain_per_second is not None:
            delay = hold_ms + int(i * 1000 / drain_per_second)
        else:
            delay = hold_ms + workload._lognorm_ms(workload.cfg.queue_seconds, fam=fam)
        if failing:
            _fail_later(workload, seq, now + max(1, delay))
        else:
            workload.schedule(now + max(1, delay), START, seq)
    return batch


def _fail_later(workload: Workload, seq: int, start_ms: int) -> None:
    """Run `seq` starts at `start_ms` as any run does, then ends FAILED after a usual duration."""

    def start() -> None:
        run = workload.world.get(seq)
        if run is None or run.status != PENDING:
            return  # deleted meanwhile
        now = workload.clock.now_ms
        new = run.copy()
        new.status = PROCESSING
        new.updated = new.started = max(run.updated, workload._q(now))
        workload._install(run, new)
        workload.add_action(now + workload._duration_ms(run.fam), fail)

    def fail() -> None:
        run = workload.world.get(seq)
        if run is not None and run.status == PROCESSING:
            workload._set(run, workload.clock.now_ms, FAILED, ended=True)

    workload.add_action(start_ms, start)
