"""Ground truth for exact-count tests, in the exporter's label semantics.

Labels:
  kind            workflow_run | extract_run | classify_run | split_run | parse_run | edit_run | processor_run
  source          the run's source enum value ("" for workflow_run)
  processor_type  EXTRACT | CLASSIFY | SPLITTER for extract/classify/split/processor runs, else ""

Every extract/classify/split event is counted twice: under its own kind and under ``processor_run``.

Counters are cumulative since the simulator started (history is *not* counted: it existed before the epoch).
``mark()`` snapshots them; ``*_since(mark)`` is "now minus snapshot", i.e. exactly the events that happened
after the ``mark()`` call.  Mark 0 is the simulator start.  Returned dicts omit zero entries.

A "finished" event is a transition into PROCESSED, FAILED, CANCELLED or REJECTED (NEEDS_REVIEW is active).
Credits are summed over transitions into PROCESSED (they are multiples of 0.25, so float sums are exact).
Deleting a run removes it from ``active()`` but never rewrites past created/finished/credits events.

Batches (batches.py derives their status from their runs): ``batches_finished_since(mark)`` counts
{(kind, status)} each batch turning terminal after the mark, ``batches_active()`` {(kind, status)} the
batches not terminal now, with kind the runs' kind (``processor_run`` for a legacy batch processor run).
History batches are not finished events. ``batch_hook`` (set by the simulator) hears every run of a batch.

What a finish carries (``fed_since(mark)``), per kind, never under ``processor_run`` (legacy summaries carry
none of it): ``failed`` {(kind, failureReason)} for the kinds whose summaries carry it; for PROCESSED
runs ``pages`` {(kind,)} (metrics.pageCount, where not null), ``processing_count`` and
``processing_seconds`` {(kind,)} from metrics.processingTimeMs, ``risk`` {(kind, riskLevel)} for verify,
``tag_credits`` {(kind, usage tag)}: credits of runs carrying that tag in metadata["extend:usage_tags"].
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import derive
from .enums import (
    ACTIVE,
    FAILED,
    FAILURE_REASONS,
    KIND,
    METADATA_FAMILIES,
    METRICS_FAMILIES,
    PROCESSED,
    PROCESSOR_RUN_KIND,
    PROCESSOR_TYPE,
    REASON_FAMILIES,
    TERMINAL,
)
from .model import Run

Label3 = tuple[str, str, str]
Label4 = tuple[str, str, str, str]


def labels3(run: Run) -> list[Label3]:
    src = run.source or ""
    ptype = PROCESSOR_TYPE.get(run.fam, "")
    out = [(KIND[run.fam], src, ptype)]
    if ptype:
        out.append((PROCESSOR_RUN_KIND, src, ptype))
    return out


def labels4(run: Run, status: str) -> list[Label4]:
    return [(k, status, s, p) for (k, s, p) in labels3(run)]


FedKey = tuple[str, ...]
FED = ("failed", "pages", "processing_count", "processing_seconds", "risk", "tag_credits")


@dataclass
class _Snapshot:
    created: Counter[Label3]
    finished: Counter[Label4]
    credits: dict[Label3, float]
    fed: dict[str, dict[FedKey, float]]
    batches_finished: Counter[tuple[str, str]] = field(default_factory=Counter)


class Truth:
    def __init__(
        self,
        lock: threading.RLock,
        seed: int = 0,
        failure_reasons: Mapping[str, tuple[str, ...]] = FAILURE_REASONS,
    ) -> None:
        self._lock = lock
        self._seed = seed
        self._reasons = failure_reasons
        self._fed: dict[str, dict[FedKey, float]] = {name: {} for name in FED}
        self._created: Counter[Label3] = Counter()
        self._finished: Counter[Label4] = Counter()
        self._credits: dict[Label3, float] = {}
        self._active: Counter[Label4] = Counter()
        self._requests: Counter[str] = Counter()
        self._by_code: Counter[tuple[str, int]] = Counter()
        self._marks: list[_Snapshot] = []
        self._nonstatus_updates = 0
        self._batches_finished: Counter[tuple[str, str]] = Counter()
        self._batches_active: Counter[tuple[str, str]] = Counter()
        self.batch_hook: Callable[[Run | None, Run | None], None] | None = None
        self.mark()

    # -- recording (called by the workload / server with the lock held) ---------------------------
    def on_created(self, run: Run) -> None:
        if run.batch >= 0 and self.batch_hook is not None:
            self.batch_hook(None, run)
        for lab in labels3(run):
            self._created[lab] += 1
        if run.status in ACTIVE:
            for lab4 in labels4(run, run.status):
                self._active[lab4] += 1

    def on_transition(self, old: Run, new: Run) -> None:
        if new.batch >= 0 and self.batch_hook is not None and old.status != new.status:
            self.batch_hook(old, new)
        if old.status == new.status:
            self._nonstatus_updates += 1
            return
        if old.status in ACTIVE:
            for lab4 in labels4(old, old.status):
                self._dec(self._active, lab4)
        if new.status in ACTIVE:
            for lab4 in labels4(new, new.status):
                self._active[lab4] += 1
        if new.status in TERMINAL:
            for lab4 in labels4(new, new.status):
                self._finished[lab4] += 1
        if new.status == PROCESSED and new.credits is not None:
            for lab in labels3(new):
                self._credits[lab] = self._credits.get(lab, 0.0) + new.credits
        if new.status in TERMINAL:
            self._on_finish(new)

    def _add(self, name: str, key: FedKey, amount: float) -> None:
        values = self._fed[name]
        values[key] = values.get(key, 0.0) + amount

    def _on_finish(self, run: Run) -> None:
        kind, fam, seed = KIND[run.fam], run.fam, self._seed
        if run.status == FAILED and fam in REASON_FAMILIES:
            self._add("failed", (kind, derive.failure_reason(seed, run, self._reasons)), 1)
        if run.status != PROCESSED:
            return
        if fam in METRICS_FAMILIES:
            pages = derive.metrics_page_count(seed, run)
            if pages is not None:
                self._add("pages", (kind,), pages)
            self._add("processing_count", (kind,), 1)
            self._add("processing_seconds", (kind,), derive.processing_ms(run) / 1000.0)
        if fam == "verify":
            self._add("risk", (kind, derive.risk_level(seed, run)), 1)
        tags = derive.usage_tags(seed, run) if fam in METADATA_FAMILIES else None
        if tags and run.credits is not None:
            for tag in set(tags):
                self._add("tag_credits", (kind, tag), run.credits)

    def on_deleted(self, run: Run) -> None:
        if run.batch >= 0 and self.batch_hook is not None:
            self.batch_hook(run, None)
        if run.status in ACTIVE:
            for lab4 in labels4(run, run.status):
                self._dec(self._active, lab4)

    def on_batch_seeded(self, kind: str, status: str) -> None:
        """A batch of the history (or built with it): active now, or finished before counting began."""
        if status not in TERMINAL:
            self._batches_active[(kind, status)] += 1

    def on_batch_status(self, kind: str, old: str | None, new: str) -> None:
        """A batch's status changed (old None: a new batch)."""
        if old is not None and old not in TERMINAL:
            self._dec(self._batches_active, (kind, old))
        if new not in TERMINAL:
            self._batches_active[(kind, new)] += 1
        elif old is None or old not in TERMINAL:
            self._batches_finished[(kind, new)] += 1

    def on_request(self, template: str, code: int) -> None:
        with self._lock:
            self._requests[template] += 1
            self._by_code[(template, code)] += 1

    @staticmethod
    def _dec(counter: Counter[Any], key: Any) -> None:
        v = counter[key] - 1
        if v:
            counter[key] = v
        else:
            del counter[key]

    # -- queries ----------------------------------------------------------------------------------
    def mark(self) -> int:
        with self._lock:
            self._marks.append(
                _Snapshot(
                    Counter(self._created),
                    Counter(self._finished),
                    dict(self._credits),
                    {name: dict(values) for name, values in self._fed.items()},
                    Counter(self._batches_finished),
                )
            )
            return len(self._marks) - 1

    def _snap(self, mark: int) -> _Snapshot:
        if not 0 <= mark < len(self._marks):
            raise KeyError(f"unknown mark {mark}")
        return self._marks[mark]

    def created_since(self, mark: int) -> dict[Label3, int]:
        with self._lock:
            base = self._snap(mark).created
            return {k: v - base.get(k, 0) for k, v in self._created.items() if v - base.get(k, 0)}

    def finished_since(self, mark: int) -> dict[Label4, int]:
        with self._lock:
            base = self._snap(mark).finished
            return {k: v - base.get(k, 0) for k, v in self._finished.items() if v - base.get(k, 0)}

    def credits_since(self, mark: int) -> dict[Label3, float]:
        with self._lock:
            base = self._snap(mark).credits
            out = {k: v - base.get(k, 0.0) for k, v in self._credits.items()}
            return {k: v for k, v in out.items() if v}

    def fed_since(self, name: str, mark: int) -> dict[FedKey, float]:
        """One of FED since ``mark``; zero entries omitted."""
        with self._lock:
            base = self._snap(mark).fed[name]
            out = {k: v - base.get(k, 0.0) for k, v in self._fed[name].items()}
            return {k: v for k, v in out.items() if v}

    def batches_finished_since(self, mark: int) -> dict[tuple[str, str], int]:
        with self._lock:
            base = self._snap(mark).batches_finished
            out = {k: v - base.get(k, 0) for k, v in self._batches_finished.items()}
            return {k: v for k, v in out.items() if v}

    def batches_active(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return {k: v for k, v in self._batches_active.items() if v}

    def active(self) -> dict[Label4, int]:
        with self._lock:
            return {k: v for k, v in self._active.items() if v}

    def requests(self) -> dict[str, int]:
        with self._lock:
            return dict(self._requests)

    def requests_by_code(self) -> dict[tuple[str, int], int]:
        with self._lock:
            return dict(self._by_code)

    def nonstatus_updates(self) -> int:
        """Updates that bumped updatedAt without a status change (e.g. ``reviewed`` set), since start."""
        with self._lock:
            return self._nonstatus_updates

    def to_json(self, mark: int) -> dict[str, object]:
        """The /_sim/truth document: label tuples become objects."""
        with self._lock:
            return {
                "mark": mark,
                "created": [
                    {"kind": k, "source": s, "processor_type": p, "count": n}
                    for (k, s, p), n in sorted(self.created_since(mark).items())
                ],
                "finished": [
                    {"kind": k, "status": st, "source": s, "processor_type": p, "count": n}
                    for (k, st, s, p), n in sorted(self.finished_since(mark).items())
                ],
                "credits": [
                    {"kind": k, "source": s, "processor_type": p, "credits": c}
                    for (k, s, p), c in sorted(self.credits_since(mark).items())
                ],
                "active": [
                    {"kind": k, "status": st, "source": s, "processor_type": p, "count": n}
                    for (k, st, s, p), n in sorted(self.active().items())
                ],
                "batches_finished": [
                    {"kind": k, "status": st, "count": n}
                    for (k, st), n in sorted(self.batches_finished_since(mark).items())
                ],
                "batches_active": [
                    {"kind": k, "status": st, "count": n}
                    for (k, st), n in sorted(self.batches_active().items())
                ],
                # failed / pages / processing_* / risk / tag_credits: [kind, (label,) value]
                "fed": {
                    name: [[*key, value] for key, value in sorted(self.fed_since(name, mark).items())]
                    for name in FED
                },
            }
