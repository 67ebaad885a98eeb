"""Seeded, event-driven workload: history generation, arrivals, status transitions, deletions, scenarios.

Determinism: all randomness comes from one ``random.Random`` consumed in event order; events are processed
in (time, insertion order), and every timestamp is the *event* time, so ``advance(10)`` is identical to
``advance(4); advance(6)``.

Lifecycles (every status change sets updatedAt to the event time, quantized to the timestamp precision):
  workflow  PENDING -> PROCESSING -> PROCESSED | FAILED | CANCELLING -> CANCELLED
                                     | NEEDS_REVIEW -> PROCESSED | REJECTED
  extract/classify/split  PENDING -> PROCESSING -> PROCESSED | FAILED | CANCELLED
                          (PROCESSED runs may later get ``reviewed: true``: updatedAt bump, same status)
  parse     PROCESSING (PENDING first when batch-created) -> PROCESSED | FAILED
  edit      PROCESSING -> PROCESSED | FAILED
  verify    PROCESSING -> PROCESSED | FAILED | CANCELLED
An arrival with a BATCH_* source (or, for workflows, with probability ``batch_fraction``) creates a batch of
``batch_size`` runs sharing createdAt, processor and batch id.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from .catalog import DAY_MS, Processor
from .clock import VirtualClock, quantize
from .config import SimConfig
from .enums import (
    BATCH_SOURCES,
    CANCELLED,
    CANCELLING,
    FAILED,
    FAMILIES,
    NEEDS_REVIEW,
    PENDING,
    PROCESSED,
    PROCESSING,
    PROCESSOR_FAMILIES,
    REJECTED,
    SOURCES,
    STATUSES,
    Family,
)
from .model import Run, World
from .truth import Truth

ARRIVAL, START, FINISH, REVIEW_DONE, CANCEL_DONE, TOUCH, DELETE_TICK, SCRIPT = range(8)
_FAM_INDEX = {f: i for i, f in enumerate(FAMILIES)}
_CREDITS: dict[str, tuple[float, float]] = {
    "workflow": (4.0, 60.0),
    "extract": (1.0, 20.0),
    "classify": (0.5, 3.0),
    "split": (1.0, 6.0),
    "parse": (0.25, 10.0),
    "edit": (1.0, 5.0),
    "verify": (1.0, 8.0),
}
_CANCELLABLE = frozenset({"workflow", "extract", "classify", "split", "verify"})
_STARTS_PROCESSING = frozenset({"parse", "edit", "verify"})  # no PENDING unless batch-created


@dataclass
class FailureSpike:
    """Override the failure rate of ``family`` for runs finishing in [start, end) (virtual seconds since
    the epoch)."""

    family: str
    start: float
    end: float
    failure_rate: float = 1.0


class _Sources:
    def __init__(self, weights: dict[str, float], allowed: tuple[str, ...]) -> None:
        pairs = [(s, w) for s, w in weights.items() if w > 0 and s in allowed]
        if allowed and not pairs:
            pairs = [(allowed[-1], 1.0)]
        self.names = [s for s, _ in pairs]
        self.cum = list(itertools.accumulate(w for _, w in pairs))

    def pick(self, u: float) -> str | None:
        if not self.names:
            return None
        i = bisect.bisect_right(self.cum, u * self.cum[-1])
        return self.names[min(i, len(self.names) - 1)]


class Workload:
    def __init__(
        self,
        cfg: SimConfig,
        world: World,
        truth: Truth,
        clock: VirtualClock,
        catalog: dict[str, list[Processor]],
    ) -> None:
        self.cfg = cfg
        self.world = world
        self.truth = truth
        self.clock = clock
        self.catalog = catalog
        self.rng = random.Random(f"extend-sim-workload-{cfg.seed}")
        # Verify runs (added later) draw from a stream of their own, so the other families' workload
        # of a given seed stays what it was.
        self._verify_rng = random.Random(f"extend-sim-workload-{cfg.seed}-verify")
        self.heap: list[tuple[int, int, int, int]] = []
        self._order = itertools.count()
        self.rates = {f: float(cfg.rates.get(f, 0.0)) for f in FAMILIES}
        self._arrival_gen = dict.fromkeys(FAMILIES, 0)
        self.sources = {f: _Sources(cfg.sources.get(f, {}), SOURCES[f]) for f in FAMILIES}
        self.spikes: list[FailureSpike] = []
        self.actions: list[Callable[[], None]] = []
        self.delete_rate = cfg.delete_rate_per_min
        # Told every change of a run (old, new) after the truth, under the simulator's lock: the
        # webhook sender's hook where runs end (webhooks.py).
        self.listeners: list[Callable[[Run, Run], None]] = []
        self._delete_gen = 0
        self.precision = cfg.timestamp_precision

    # -- random helpers ---------------------------------------------------------------------------
    def _rng_of(self, fam: str) -> random.Random:
        return self._verify_rng if fam == "verify" else self.rng

    def _duration_ms(self, fam: str) -> int:
        median = max(0.05, self.cfg.durations.get(fam, 20.0))
        secs = self._rng_of(fam).lognormvariate(math.log(median), self.cfg.duration_sigma)
        return int(min(max(secs, 0.3), 7200.0) * 1000)

    def _lognorm_ms(self, median: float, sigma: float = 0.8, fam: str = "") -> int:
        secs = self._rng_of(fam).lognormvariate(math.log(max(median, 0.05)), sigma)
        return int(min(max(secs, 0.2), 30 * 86400.0) * 1000)

    def _credits(self, fam: str) -> float:
        lo, hi = _CREDITS[fam]
        return max(0.25, round(self._rng_of(fam).uniform(lo, hi) * 4) / 4)

    def _failure_rate(self, fam: str, at_ms: int) -> float:
        off = (at_ms - self.clock.start_ms) / 1000.0
        for sp in self.spikes:
            if sp.family == fam and sp.start <= off < sp.end:
                return sp.failure_rate
        return self.cfg.rate_for(self.cfg.failure_rate, fam)

    def _outcome(self, fam: str, at_ms: int) -> str:
        """Outcome at the end of processing: FAILED, CANCELLED (CANCELLING for workflows), NEEDS_REVIEW or
        PROCESSED."""
        u = self._rng_of(fam).random()
        f = self._failure_rate(fam, at_ms)
        if u < f:
            return FAILED
        if fam in _CANCELLABLE:
            c = self.cfg.rate_for(self.cfg.cancel_rate, fam)
            if u < f + c:
                return CANCELLING if fam == "workflow" else CANCELLED
        if fam == "workflow" and self.rng.random() < self.cfg.needs_review_rate:
            return NEEDS_REVIEW
        return PROCESSED

    def _q(self, ms: int) -> int:
        return quantize(ms, self.precision)

    # -- scheduling -------------------------------------------------------------------------------
    def schedule(self, at_ms: int, kind: int, arg: int) -> None:
        heapq.heappush(self.heap, (at_ms, next(self._order), kind, arg))

    def _schedule_arrival(self, fam: Family, after_ms: int) -> None:
        rate = self.rates[fam]
        if rate <= 0:
            return
        gap = self._rng_of(fam).expovariate(rate / 60.0)
        arg = _FAM_INDEX[fam] + 8 * self._arrival_gen[fam]
        self.schedule(after_ms + max(1, int(gap * 1000)), ARRIVAL, arg)

    def set_rate(self, fam: Family, per_min: float) -> None:
        self.rates[fam] = float(per_min)
        self._arrival_gen[fam] += 1  # invalidates the pending arrival
        self._schedule_arrival(fam, self.clock.now_ms)

    def set_delete_rate(self, per_min: float) -> None:
        self.delete_rate = per_min
        self._delete_gen += 1
        self._schedule_delete(self.clock.now_ms)

    def _schedule_delete(self, after_ms: int) -> None:
        if self.delete_rate > 0:
            gap = self.rng.expovariate(self.delete_rate / 60.0)
            self.schedule(after_ms + max(1, int(gap * 1000)), DELETE_TICK, self._delete_gen)

    def add_action(self, at_ms: int, action: Callable[[], None]) -> None:
        self.actions.append(action)
        self.schedule(at_ms, SCRIPT, len(self.actions) - 1)

    def start(self) -> None:
        for fam in FAMILIES:
            self._schedule_arrival(fam, self.clock.now_ms)
        self._schedule_delete(self.clock.now_ms)

    # -- the event loop ---------------------------------------------------------------------------
    def advance_to(self, target_ms: int) -> None:
        heap = self.heap
        while heap and heap[0][0] <= target_ms:
            at, _, kind, arg = heapq.heappop(heap)
            if at > self.clock.now_ms:
                self.clock.now_ms = at
            self._dispatch(kind, arg)
        if target_ms > self.clock.now_ms:
            self.clock.now_ms = target_ms

    def _dispatch(self, kind: int, arg: int) -> None:
        now = self.clock.now_ms
        if kind == ARRIVAL:
            fam = FAMILIES[arg % 8]
            if arg // 8 != self._arrival_gen[fam]:
                return
            self._arrive(fam, now)
            self._schedule_arrival(fam, now)
        elif kind == DELETE_TICK:
            if arg != self._delete_gen:
                return
            self._random_delete()
            self._schedule_delete(now)
        elif kind == SCRIPT:
            self.actions[arg]()
        else:
            run = self.world.get(arg)
            if run is None:
                return  # deleted
            if kind == START:
                self._start(run, now)
            elif kind == FINISH:
                self._finish(run, now)
            elif kind == REVIEW_DONE:
                self._review_done(run, now)
            elif kind == CANCEL_DONE:
                self._set(run, now, CANCELLED, ended=True)
            elif kind == TOUCH:
                new = run.copy()
                new.reviewed = True
                new.updated = max(run.updated, self._q(now))
                self._install(run, new)

    def _install(self, old: Run, new: Run) -> None:
        self.world.replace(new)
        self.truth.on_transition(old, new)
        for listener in self.listeners:
            listener(old, new)

    def _set(self, run: Run, now: int, status: str, *, ended: bool = False) -> Run:
        new = run.copy()
        new.status = status
        new.updated = max(run.updated, self._q(now))
        if ended:
            new.ended = new.updated
        self._install(run, new)
        return new

    # -- live transitions -------------------------------------------------------------------------
    def _arrive(self, fam: Family, now: int) -> None:
        rng = self._rng_of(fam)
        src = self.sources[fam].pick(rng.random())
        proc = rng.randrange(len(self.catalog[fam])) if self.catalog[fam] else 0
        is_batch = src in BATCH_SOURCES or (fam == "workflow" and rng.random() < self.cfg.batch_fraction)
        size = rng.randint(*self.cfg.batch_size) if is_batch else 1
        created = self._q(now)
        batch = self.world.new_batch(fam, proc, created) if is_batch else None
        for _ in range(size):
            seq = self.world.next_seq()
            status = PROCESSING if fam in _STARTS_PROCESSING and batch is None else PENDING
            run = Run(seq, fam, status, src, proc, created, created, batch=batch.index if batch else -1)
            if status == PROCESSING:
                run.started = created
            if batch is not None:
                batch.seqs.append(seq)
            self.world.add(run)
            self.truth.on_created(run)
            if status == PENDING:
                self.schedule(now + self._lognorm_ms(self.cfg.queue_seconds, fam=fam), START, seq)
            else:
                self.schedule(now + self._duration_ms(fam), FINISH, seq)

    def _start(self, run: Run, now: int) -> None:
        new = run.copy()
        new.status = PROCESSING
        new.updated = max(run.updated, self._q(now))
        new.started = new.updated
        self._install(run, new)
        self.schedule(now + self._duration_ms(run.fam), FINISH, run.seq)

    def _finish(self, run: Run, now: int) -> None:
        fam = run.fam
        outcome = self._outcome(fam, now)
        if outcome == PROCESSED:
            new = run.copy()
            new.status = PROCESSED
            new.updated = max(run.updated, self._q(now))
            new.ended = new.updated
            new.credits = self._credits(fam)
            self._install(run, new)
            if fam in PROCESSOR_FAMILIES and self.rng.random() < self.cfg.touch_rate:
                self.schedule(now + self._lognorm_ms(self.cfg.touch_seconds), TOUCH, run.seq)
        elif outcome == CANCELLING:
            self._set(run, now, CANCELLING)
            self.schedule(now + self._lognorm_ms(self.cfg.cancelling_seconds, 0.5), CANCEL_DONE, run.seq)
        elif outcome == NEEDS_REVIEW:
            self._set(run, now, NEEDS_REVIEW, ended=True)
            self.schedule(now + self._lognorm_ms(self.cfg.review_seconds), REVIEW_DONE, run.seq)
        else:
            self._set(run, now, outcome, ended=True)

    def _review_done(self, run: Run, now: int) -> None:
        new = run.copy()
        new.updated = max(run.updated, self._q(now))
        new.reviewed = True
        new.reviewed_at = new.updated
        if self.rng.random() < self.cfg.reject_rate:
            new.status = REJECTED
        else:
            new.status = PROCESSED
            new.credits = self._credits(run.fam)
        self._install(run, new)

    def _random_delete(self) -> None:
        n = len(self.world.runs)
        for _ in range(8):
            if n == 0:
                return
            seq = self.rng.randrange(n)
            if self.world.runs[seq] is not None:
                self.delete(seq)
                return

    def delete(self, seq: int) -> bool:
        old = self.world.delete(seq)
        if old is None:
            return False
        self.truth.on_deleted(old)
        return True

    def touch(self, seq: int) -> bool:
        """Non-status update now (``reviewed`` set, updatedAt bumped)."""
        run = self.world.get(seq)
        if run is None:
            return False
        new = run.copy()
        new.reviewed = True
        new.updated = max(run.updated, self._q(self.clock.now_ms))
        self._install(run, new)
        return True

    # -- history ----------------------------------------------------------------------------------
    def build_history(self) -> None:
        cfg = self.cfg
        counts = cfg.history_counts()
        end_ms = self.clock.start_ms
        span = int(cfg.history_days * DAY_MS)
        begin = end_ms - span
        rng = self.rng
        groups: list[tuple[int, int, str | None, int, int, bool]] = []  # (t, fam_idx, src, proc, size, batch)
        for fam in FAMILIES:
            left = counts[fam]
            nproc = max(1, len(self.catalog[fam]))
            fam_groups: list[tuple[str | None, int, int, bool]] = []
            while left > 0:
                src = self.sources[fam].pick(rng.random())
                is_batch = src in BATCH_SOURCES or (fam == "workflow" and rng.random() < cfg.batch_fraction)
                size = min(left, rng.randint(*cfg.batch_size)) if is_batch else 1
                fam_groups.append((src, rng.randrange(nproc), size, is_batch))
                left -= size
            times = sorted(begin + int(rng.random() * (span - 3_600_000)) for _ in fam_groups)
            fi = _FAM_INDEX[fam]
            for t, (src, proc, size, is_batch) in zip(times, fam_groups, strict=True):
                groups.append((self._q(t), fi, src, proc, size, is_batch))
        groups.sort(key=lambda g: (g[0], g[1]))
        self.world.bulk_load(self._history_runs(groups, end_ms))
        self._add_stuck_runs(end_ms)

    def _add_stuck_runs(self, end_ms: int) -> None:
        """Runs Extend never finished: created weeks (parse batches: hours) ago, active for good."""
        cfg = self.cfg
        rng = self.rng
        counts = cfg.stuck_counts()
        for fam in FAMILIES:
            for i in range(counts[fam]):
                src = self.sources[fam].pick(rng.random())
                pending_batch = fam == "parse" and i % 2 == 1
                if pending_batch:
                    src = "BATCH_PARSER_RUN"
                    age_h = rng.uniform(*cfg.stuck_batch_hours)
                    created = self._q(end_ms - int(age_h * 3_600_000))
                else:
                    if src in BATCH_SOURCES:
                        src = "API"
                    created = self._q(end_ms - int(rng.uniform(*cfg.stuck_days) * DAY_MS))
                proc = rng.randrange(len(self.catalog[fam])) if self.catalog[fam] else 0
                batch = self.world.new_batch(fam, proc, created) if pending_batch else None
                seq = self.world.next_seq()
                # Half of the stuck runs of a kind that has PENDING sit there (edit and verify have none).
                starts_pending = pending_batch or (fam != "parse" and PENDING in STATUSES[fam] and i % 2 == 1)
                status = PENDING if starts_pending else PROCESSING
                run = Run(seq, fam, status, src, proc, created, created, batch=batch.index if batch else -1)
                if status == PROCESSING:
                    run.started = self._q(created + int(rng.uniform(1, 60) * 1000))
                    run.updated = run.started
                if batch is not None:
                    batch.seqs.append(seq)
                self.world.add(run)
                self.truth.on_created(run)

    def end_run(self, seq: int, status: str) -> bool:
        """End an active run now with a terminal status (PROCESSED gets credits)."""
        run = self.world.get(seq)
        if run is None or run.status not in (PENDING, PROCESSING, NEEDS_REVIEW, CANCELLING):
            return False
        new = run.copy()
        new.status = status
        new.updated = max(run.updated, self._q(self.clock.now_ms))
        new.ended = new.updated
        if status == PROCESSED:
            new.credits = self._credits(run.fam)
        self._install(run, new)
        return True

    def _history_runs(
        self, groups: list[tuple[int, int, str | None, int, int, bool]], end_ms: int
    ) -> list[Run]:
        cfg = self.cfg
        rng = self.rng
        q = self._q
        limit = q(end_ms - 1000)
        out: list[Run] = []
        seq = len(self.world.runs)
        fail = {f: cfg.rate_for(cfg.failure_rate, f) for f in FAMILIES}
        cancel = {f: (cfg.rate_for(cfg.cancel_rate, f) if f in _CANCELLABLE else 0.0) for f in FAMILIES}
        log_med = {f: math.log(max(0.05, cfg.durations.get(f, 20.0))) for f in FAMILIES}
        sigma = cfg.duration_sigma
        log_queue = math.log(max(0.05, cfg.queue_seconds))
        log_review = math.log(max(0.05, cfg.review_seconds))
        log_touch = math.log(max(0.05, cfg.touch_seconds))
        lognorm = rng.lognormvariate
        rand = rng.random
        for created, fi, src, proc, size, is_batch in groups:
            fam = FAMILIES[fi]
            batch = self.world.new_batch(fam, proc, created).index if is_batch else -1
            if batch >= 0:
                self.world.batches[batch].seqs.extend(range(seq, seq + size))
            queued = fam not in _STARTS_PROCESSING or batch >= 0
            for _ in range(size):
                started = created + int(lognorm(log_queue, 0.8) * 1000) if queued else created
                ended = started + int(min(lognorm(log_med[fam], sigma), 7200.0) * 1000)
                u = rand()
                credits: float | None = None
                reviewed = False
                reviewed_at: int | None = None
                if u < fail[fam]:
                    status = FAILED
                elif u < fail[fam] + cancel[fam]:
                    status = CANCELLED
                else:
                    status = PROCESSED
                    credits = self._credits(fam)
                    if fam == "workflow" and rand() < cfg.needs_review_rate:
                        reviewed = True
                        reviewed_at = ended + int(lognorm(log_review, 0.8) * 1000)
                        if rand() < cfg.reject_rate:
                            status = REJECTED
                            credits = None
                    elif fam in PROCESSOR_FAMILIES and rand() < cfg.touch_rate:
                        reviewed = True
                        reviewed_at = ended + int(lognorm(log_touch, 0.8) * 1000)
                started_q = min(q(started), limit)
                ended_q = min(max(q(ended), started_q), limit)
                updated = ended_q
                if reviewed_at is not None:
                    reviewed_at = min(max(q(reviewed_at), ended_q), limit)
                    updated = reviewed_at
                    if fam != "workflow":
                        reviewed_at = None
                out.append(
                    Run(
                        seq,
                        fam,
                        status,
                        src,
                        proc,
                        created,
                        max(updated, created),
                        max(started_q, created),
                        max(ended_q, created),
                        credits,
                        reviewed,
                        reviewed_at,
                        batch,
                    )
                )
                seq += 1
        return out
