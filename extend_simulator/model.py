"""Runs, batches and the ordered indices over them.

Runs are copy-on-write: a change replaces the ``Run`` object in ``World.runs`` (snapshot cursors keep the old
objects, so a snapshot is a consistent frozen view).

Indices: for each *group* (a family, or "processor" = extract+classify+split as seen by /processor_runs) and
each (status or None, source or None) combination there are two ``SortedList`` of int keys, one by updatedAt
and one by createdAt.  A key is ``(timestamp_ms << 29) | (prefix_rank << 26) | seq``, so integer order equals
(timestamp, run id) order (see ids.py): ties in the sort key are broken by run id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sortedcontainers import SortedList

from .enums import BATCH_PREFIX, DEFAULT_BATCH_PREFIX, FAILURE_REASONS, PROCESSOR_FAMILIES, Family
from .ids import MAX_SEQ, PREFIX_RANK, derived_id, run_id

BATCH_SALT = 0x25

SEQ_BITS = 26
KEY_SHIFT = 29
SEQ_MASK = (1 << SEQ_BITS) - 1

IndexKey = tuple[str, str | None, str | None]  # (group, status, source)


class Run:
    __slots__ = (
        "batch",
        "created",
        "credits",
        "ended",
        "fam",
        "proc",
        "reviewed",
        "reviewed_at",
        "seq",
        "source",
        "started",
        "status",
        "updated",
    )

    def __init__(
        self,
        seq: int,
        fam: Family,
        status: str,
        source: str | None,
        proc: int,
        created: int,
        updated: int,
        started: int | None = None,
        ended: int | None = None,
        credits: float | None = None,
        reviewed: bool = False,
        reviewed_at: int | None = None,
        batch: int = -1,
    ) -> None:
        self.seq = seq
        self.fam: Family = fam
        self.status = status
        self.source = source
        self.proc = proc
        self.created = created
        self.updated = updated
        self.started = started
        self.ended = ended
        self.credits = credits
        self.reviewed = reviewed
        self.reviewed_at = reviewed_at
        self.batch = batch

    def copy(self) -> Run:
        return Run(
            self.seq,
            self.fam,
            self.status,
            self.source,
            self.proc,
            self.created,
            self.updated,
            self.started,
            self.ended,
            self.credits,
            self.reviewed,
            self.reviewed_at,
            self.batch,
        )

    def ukey(self) -> int:
        return (self.updated << KEY_SHIFT) | (PREFIX_RANK[self.fam] << SEQ_BITS) | self.seq

    def ckey(self) -> int:
        return (self.created << KEY_SHIFT) | (PREFIX_RANK[self.fam] << SEQ_BITS) | self.seq


def key_seq(key: int) -> int:
    return key & SEQ_MASK


@dataclass
class Batch:
    index: int
    fam: Family
    proc: int
    created: int
    seqs: list[int] = field(default_factory=list)
    # EVAL_SET / PLAYGROUND / STUDIO: a legacy batch processor run (an evaluation set run when EVAL_SET),
    # served by /batch_processor_runs (and /evaluation_set_runs), not by /batch_runs. None: a batch run.
    legacy_source: str | None = None
    # Live members by status, and the batch status derived from them (batches.py keeps both).
    counts: Counter[str] = field(default_factory=Counter)
    status: str = "PENDING"


def groups_of(fam: Family) -> tuple[str, ...]:
    return (fam, "processor") if fam in PROCESSOR_FAMILIES else (fam,)


def index_keys(run: Run) -> list[IndexKey]:
    out: list[IndexKey] = []
    for g in groups_of(run.fam):
        out.append((g, None, None))
        out.append((g, run.status, None))
        if run.source is not None:
            out.append((g, None, run.source))
            out.append((g, run.status, run.source))
    return out


class World:
    """All runs and batches plus their indices.  Callers hold the simulator lock."""

    def __init__(self, seed: int, failure_reasons: Mapping[str, tuple[str, ...]] = FAILURE_REASONS) -> None:
        self.seed = seed
        #: failureReason values a FAILED run's is derived from, per family (derive.failure_reason)
        self.failure_reasons = failure_reasons
        self.runs: list[Run | None] = []
        self.batches: list[Batch] = []
        self.batch_index: dict[str, int] = {}
        self.idx: dict[IndexKey, tuple[SortedList, SortedList]] = {}
        self.live_count = 0

    # -- indices ----------------------------------------------------------------------------------
    def _lists(self, key: IndexKey) -> tuple[SortedList, SortedList]:
        lists = self.idx.get(key)
        if lists is None:
            lists = (SortedList(), SortedList())
            self.idx[key] = lists
        return lists

    def index(self, group: str, status: str | None, source: str | None, by: str) -> SortedList:
        lists = self.idx.get((group, status, source))
        if lists is None:
            return SortedList()
        return lists[0] if by == "updatedAt" else lists[1]

    def bulk_load(self, runs: Iterable[Run]) -> None:
        """Append many runs (seq must equal len(self.runs) each time) and rebuild the indices once."""
        pending: dict[IndexKey, tuple[list[int], list[int]]] = {}
        for run in runs:
            uk, ck = self._append(run)
            for k in index_keys(run):
                lists = pending.get(k)
                if lists is None:
                    lists = ([], [])
                    pending[k] = lists
                lists[0].append(uk)
                lists[1].append(ck)
        for k, (ul, cl) in pending.items():
            u, c = self._lists(k)
            u.update(ul)
            c.update(cl)

    def _append(self, run: Run) -> tuple[int, int]:
        """Store the run as the next one; its (updatedAt, createdAt) index keys."""
        if run.seq != len(self.runs):
            raise ValueError("runs must be appended in seq order")
        self.runs.append(run)
        self.live_count += 1
        return run.ukey(), run.ckey()

    def next_seq(self) -> int:
        seq = len(self.runs)
        if seq > MAX_SEQ:
            raise RuntimeError("simulator run capacity exhausted")
        return seq

    def add(self, run: Run) -> None:
        uk, ck = self._append(run)
        for k in index_keys(run):
            u, c = self._lists(k)
            u.add(uk)
            c.add(ck)

    def replace(self, new: Run) -> Run:
        """Install ``new`` in place of the current version of the same run; returns the old one."""
        old = self.runs[new.seq]
        if old is None:
            raise KeyError(new.seq)
        self.runs[new.seq] = new
        if old.status == new.status and old.updated == new.updated:
            return old
        ouk, ock, nuk, nck = old.ukey(), old.ckey(), new.ukey(), new.ckey()
        okeys, nkeys = index_keys(old), index_keys(new)
        for k in okeys:
            u, c = self._lists(k)
            u.remove(ouk)
            if k not in nkeys:
                c.remove(ock)
        for k in nkeys:
            u, c = self._lists(k)
            u.add(nuk)
            if k not in okeys:
                c.add(nck)
        return old

    def delete(self, seq: int) -> Run | None:
        if seq < 0 or seq >= len(self.runs):
            return None
        old = self.runs[seq]
        if old is None:
            return None
        self.runs[seq] = None
        self.live_count -= 1
        uk, ck = old.ukey(), old.ckey()
        for k in index_keys(old):
            u, c = self._lists(k)
            u.remove(uk)
            c.remove(ck)
        return old

    def get(self, seq: int) -> Run | None:
        if 0 <= seq < len(self.runs):
            return self.runs[seq]
        return None

    def run_id(self, run: Run) -> str:
        return run_id(run.fam, run.seq, self.seed)

    # -- batches ----------------------------------------------------------------------------------
    def new_batch(self, fam: Family, proc: int, created: int, legacy_source: str | None = None) -> Batch:
        b = Batch(index=len(self.batches), fam=fam, proc=proc, created=created, legacy_source=legacy_source)
        self.batches.append(b)
        self.batch_index[self.batch_id(b)] = b.index
        return b

    def batch_id(self, b: Batch) -> str:
        return derived_id(BATCH_PREFIX.get(b.fam, DEFAULT_BATCH_PREFIX), self.seed, b.index, BATCH_SALT)

    def find_batch(self, bid: str) -> Batch | None:
        n = self.batch_index.get(bid)
        return None if n is None else self.batches[n]
