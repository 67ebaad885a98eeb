"""The batches of one workspace: which are tracked, where each stands, and what was counted.

Pure (no I/O; times come in as arguments or from the clock it was given) and thread-safe: every kind's
sync tells it what it saw (`observed`, the sync's observer), the poller what the endpoints said.

Rules that keep the families exact:

* a batch counts once in `finished` when it is first read done: when it had been read active before,
  or, first read already done, when it was created after counting began (`since`, the server time of
  the first sync's position); one that ended before counting began is tracked but not counted;
* a batch that turned done and was dropped after the retention is remembered (`gone`), so finding it
  again (a late webhook, a setting) neither tracks nor counts it twice;
* at most `max_batches` are tracked; a new one pushes out the batch that finished first, and when all
  are active it is left out and counted in `left_out` once, never silently dropped.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..engine.histogram import Histogram, HistogramValue
from ..engine.observation import Observation
from ..kinds import KINDS, KindSpec
from ..metrics.labels import MAX_EXTRA_STATUSES, OTHER
from .records import ACTIVE_STATUSES, BATCH_KINDS, NOT_DONE, TERMINAL_STATUSES, BatchReading, endpoint_of
from .tracked import TrackedBatch

# Batches dropped after their retention (or left out by the cap) that are remembered by ID, per book.
REMEMBERED = 10_000


@dataclass(frozen=True)
class BatchRow:
    """One tracked batch as the families show it."""

    kind: str
    id: str
    status: str
    runs: Mapping[str, int]  # its runs by status
    run_count: int | None
    created_at: float | None
    progress_at: float | None
    source: str
    files: float | None
    pages: float | None


class Due(NamedTuple):
    """A batch a sync reads, as it stood when the sync asked."""

    id: str
    kind: str | None
    candidates: tuple[str, ...]
    endpoint: str | None
    needs_listing: bool


@dataclass(frozen=True)
class BatchSnapshot:
    active: Mapping[tuple[str, str], int]  # (kind, status) -> tracked batches not done
    finished: Mapping[tuple[str, str], int]
    durations: Mapping[tuple[str, str], HistogramValue]
    left_out: Mapping[str, int]  # kind -> batches the cap left out
    batches: tuple[BatchRow, ...]


class BatchBook:
    def __init__(
        self,
        kinds: Iterable[str],
        *,
        max_batches: int = 100,
        retention_seconds: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.kinds = tuple(k for k in BATCH_KINDS if k in set(kinds) or k == "processor_run")
        self.max_batches = max_batches
        self.retention = retention_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self.batches: dict[str, TrackedBatch] = {}
        self.member_of: dict[str, str] = {}  # run id -> batch id, for kinds whose summaries lack batchId
        self.since: float | None = None  # server time counting began
        self.finished: dict[tuple[str, str], int] = {}
        self.durations: dict[tuple[str, str], Histogram] = {}
        self.left_out: dict[str, int] = dict.fromkeys(self.kinds, 0)
        self.gone: OrderedDict[str, None] = OrderedDict()  # dropped or left out: not tracked again
        self.extra_statuses: set[str] = set()
        for kind in self.kinds:
            for status in TERMINAL_STATUSES:
                self.finished[(kind, status)] = 0
                self.durations[(kind, status)] = Histogram.empty()

    # --- finding batches ---------------------------------------------------------------------------

    def watch(self, batch_id: str, kinds: Iterable[str] = ()) -> None:
        """Track `batch_id` (a setting, a webhook), a batch of one of `kinds` when they say (else any).
        Only a parse batch is taken at its word (`bpr_…` IDs of the other kinds look alike and a
        webhook may not know which): the others are resolved from the API."""
        candidates = tuple(k for k in kinds if k in BATCH_KINDS)
        kind = "parse_run" if candidates == ("parse_run",) else None
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is not None:
                if batch.kind is None:
                    batch.candidates = tuple(dict.fromkeys((*batch.candidates, *candidates)))
                return
            if self._admit(batch_id, kind):
                self.batches[batch_id] = TrackedBatch(
                    batch_id, kind, candidates, endpoint_of(kind) if kind else None, needs_listing=True
                )

    def observed(
        self, spec: KindSpec, seen: Mapping[str, Observation], floor: float, listed: Mapping[str, set[str]]
    ) -> None:
        """A sync of `spec`'s kind listed `seen` (SyncObserver): batches and their runs' statuses."""
        with self._lock:
            for listed_id, ids in listed.items():
                batch = self.batches.get(listed_id)
                if batch is not None and batch.kind == spec.name:
                    self._listed(batch, [seen[i] for i in ids if i in seen])
            touched: set[str] = set()
            for obs in seen.values():
                batch_id = obs.batch_id or self.member_of.get(obs.id)
                if batch_id is None:
                    continue
                batch = self.batches.get(batch_id)
                if batch is None and obs.batch_id is not None and self._admit(batch_id, spec.name):
                    batch = self.batches[batch_id] = TrackedBatch(
                        batch_id, spec.name, (), endpoint_of(spec.name)
                    )
                    # Its runs share its creation: created inside the scan's reach, the scan listed them all.
                    batch.needs_listing = obs.created_at < floor and batch_id not in listed
                if batch is None or batch.kind not in (spec.name, None):
                    continue
                batch.kind = spec.name
                self._member(batch, obs)
                touched.add(batch_id)
            for batch_id in touched:
                # A batch admitted later in this loop may have pushed a touched one out at the cap.
                if (touched_batch := self.batches.get(batch_id)) is not None:
                    self._derive(touched_batch)

    def counting_began(self, position: float | None) -> None:
        """The first sync of the workspace completed at `position` (server time): batches created after
        it that are first read done count as finished."""
        with self._lock:
            if self.since is None and position is not None:
                self.since = position

    # --- what the poller asks and tells ------------------------------------------------------------

    def due(self, kind: str, *, host: bool, synced: frozenset[str]) -> list[Due]:
        """Batches the sync of `kind` reads now: its own not yet done or not fully listed, and those not
        yet resolved whose first candidate kind synced here is `kind` (a webhook's batch is read by
        the sync it asks for); at the host kind's sync also the rest (kinds not synced here)."""

        def reader(b: TrackedBatch) -> str | None:  # the kind whose sync reads it; None: the host
            if b.kind is not None:
                return b.kind if b.kind in synced else None
            return next((k for k in b.candidates if k in synced), None)

        with self._lock:
            return [
                Due(b.id, b.kind, b.candidates, b.endpoint, b.needs_listing)
                for b in self.batches.values()
                if (reader(b) == kind or (host and reader(b) is None)) and (not b.counted or b.needs_listing)
            ]

    def resolve(self, batch_id: str, kind: str | None) -> None:
        """`batch_id` is a batch of `kind`; None: the API knows no such batch (it stops being tracked)."""
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return
            if kind is None:
                self._drop(batch)
                return
            batch.kind, batch.endpoint = kind, endpoint_of(kind)

    def endpoint(self, batch_id: str) -> str | None:
        with self._lock:
            batch = self.batches.get(batch_id)
            return None if batch is None else batch.endpoint

    def listed(self, batch_id: str, runs: Iterable[Observation]) -> None:
        """Every run of the batch, listed now."""
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is not None:
                self._listed(batch, list(runs))
                self._derive(batch)

    def unlistable(self, batch_id: str) -> None:
        """The batch's runs cannot be listed (its kind's listing takes no batch filter)."""
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is not None:
                batch.needs_listing = False

    def read(self, batch_id: str, reading: BatchReading) -> None:
        """What the batch's endpoint answered now."""
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is not None:
                batch.read(reading)
                self._status(batch, self._label(reading.status))

    def settle(self) -> None:
        """Drop the batches whose retention ran out."""
        now = self._clock()
        with self._lock:
            for batch in list(self.batches.values()):
                if batch.finished_at is not None and now - batch.finished_at >= self.retention:
                    self._drop(batch)

    # --- inside the lock ---------------------------------------------------------------------------

    def _admit(self, batch_id: str, kind: str | None) -> bool:
        if batch_id in self.gone:
            return False
        if len(self.batches) >= self.max_batches:
            finished = [b for b in self.batches.values() if b.finished_at is not None]
            if not finished:
                self.left_out[kind or OTHER] = self.left_out.get(kind or OTHER, 0) + 1
                self._forget(batch_id)
                return False
            self._drop(min(finished, key=lambda b: b.finished_at or 0.0))
        return True

    def _forget(self, batch_id: str) -> None:
        self.gone[batch_id] = None
        while len(self.gone) > REMEMBERED:
            self.gone.popitem(last=False)

    def _drop(self, batch: TrackedBatch) -> None:
        del self.batches[batch.id]
        for run_id in batch.members:
            if self.member_of.get(run_id) == batch.id:
                del self.member_of[run_id]
        self._forget(batch.id)

    def _member(self, batch: TrackedBatch, obs: Observation) -> None:
        batch.member(obs.id, self._label(obs.status), obs.created_at, obs.updated_at)
        if obs.batch_id is None:  # its summaries do not say: remember whose it is
            self.member_of[obs.id] = batch.id

    def _listed(self, batch: TrackedBatch, runs: list[Observation]) -> None:
        ids = {obs.id for obs in runs}
        for run_id in [r for r in batch.members if r not in ids]:  # deleted
            del batch.members[run_id]
            self.member_of.pop(run_id, None)
        for obs in runs:
            self._member(batch, obs)
        batch.needs_listing = False

    def _derive(self, batch: TrackedBatch) -> None:
        """A batch without an endpoint (workflow) takes its status from its runs, once all are known."""
        if batch.endpoint is not None or batch.kind is None or batch.needs_listing or not batch.members:
            return
        statuses = set(batch.members.values())
        spec = KINDS.get(batch.kind)
        active = set(spec.active_statuses) if spec else set(ACTIVE_STATUSES)
        if statuses == {"PENDING"}:
            status = "PENDING"
        elif statuses & active:
            status = "PROCESSING"
        elif statuses in ({"FAILED"}, {"CANCELLED"}):
            status = statuses.pop()
        else:
            status = "PROCESSED"
        self._status(batch, status)

    def _status(self, batch: TrackedBatch, status: str) -> None:
        if batch.counted:  # done for good: a later answer changes nothing
            return
        batch.status = status
        if status in NOT_DONE:
            batch.seen_active = True
            return
        kind = batch.kind or OTHER
        new = batch.created_at is not None and self.since is not None and batch.created_at > self.since
        if batch.seen_active or new:
            key = (kind, status)
            self.finished[key] = self.finished.get(key, 0) + 1
            end = batch.finish_time()
            if end is not None and batch.created_at is not None:
                self.durations.setdefault(key, Histogram.empty()).observe(max(0.0, end - batch.created_at))
        batch.counted = True
        batch.finished_at = self._clock()

    def _label(self, status: str) -> str:
        """A status as a label value: documented or label-safe up to a cap, else OTHER."""
        if status in NOT_DONE or status in TERMINAL_STATUSES or status in self.extra_statuses:
            return status
        if any(status in s.all_statuses for s in KINDS.values()):
            return status
        clean = status.replace("_", "").isalnum() and len(status) <= 40 and status != OTHER
        if clean and len(self.extra_statuses) < MAX_EXTRA_STATUSES:
            self.extra_statuses.add(status)
            return status
        return OTHER

    # --- what /metrics shows, and the state file ---------------------------------------------------

    def snapshot(self) -> BatchSnapshot:
        with self._lock:
            active = {(kind, status): 0 for kind in self.kinds for status in ACTIVE_STATUSES}
            rows = []
            for batch in self.batches.values():
                if batch.kind is None or batch.status is None:
                    continue  # not read yet
                if not batch.done:
                    active[(batch.kind, batch.status)] = active.get((batch.kind, batch.status), 0) + 1
                rows.append(
                    BatchRow(
                        batch.kind,
                        batch.id,
                        batch.status,
                        self._runs(batch),
                        batch.run_count if batch.endpoint is not None else len(batch.members) or None,
                        batch.created_at,
                        batch.progress_at,
                        batch.source or "",
                        batch.files,
                        batch.pages,
                    )
                )
            return BatchSnapshot(
                active=active,
                finished=dict(self.finished),
                durations={k: h.value() for k, h in self.durations.items()},
                left_out=dict(self.left_out),
                batches=tuple(sorted(rows, key=lambda r: (r.kind, r.id))),
            )

    @staticmethod
    def _runs(batch: TrackedBatch) -> dict[str, int]:
        """Its runs by status; every status of its kind present (0 when none), so a graph is continuous."""
        spec = KINDS.get(batch.kind or "")
        runs = dict.fromkeys(spec.all_statuses if spec else (), 0)
        runs.update(batch.counts())
        return runs

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "since": self.since,
                "batches": {b.id: b.to_dict() for b in self.batches.values()},
                "finished": [[*k, v] for k, v in self.finished.items()],
                "durations": [[*k, h.buckets, h.total, h.count] for k, h in self.durations.items()],
                "left_out": self.left_out,
                "gone": list(self.gone),
                "extra_statuses": sorted(self.extra_statuses),
            }

    def load_dict(self, data: Mapping[str, Any]) -> None:
        """Restore from `to_dict` output; raises (KeyError, TypeError, ValueError) when malformed."""
        batches = {str(k): TrackedBatch.from_dict(k, v) for k, v in data["batches"].items()}
        finished = {(str(k), str(s)): int(v) for k, s, v in data["finished"]}
        durations = {(str(k), str(s)): Histogram.restore(b, t, c) for k, s, b, t, c in data["durations"]}
        since = data.get("since")
        with self._lock:
            self.since = None if since is None else float(since)
            self.batches = dict(list(batches.items())[-self.max_batches :])
            self.member_of = {}
            self.finished.update(finished)
            self.durations.update(durations)
            self.left_out.update({str(k): int(v) for k, v in data.get("left_out", {}).items()})
            self.gone = OrderedDict((str(i), None) for i in data.get("gone", ())[-REMEMBERED:])
            self.extra_statuses = {str(s) for s in data.get("extra_statuses", ())}
