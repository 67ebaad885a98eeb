"""``SimState``: the simulated workspace and every operation on it, without sockets.

What the request handlers (``api``, ``control``) and the ``Simulator`` facade share: the world, its
lock, the clock, the workload, the ground truth, faults and keys.  It imports none of those three
modules, so the imports run one way: handlers -> state, facade -> handlers + server + state.
"""

from __future__ import annotations

import gc
import math
import threading
from datetime import datetime

from . import derive
from .batches import BatchBook, submit
from .catalog import build_catalog
from .clock import TimestampFormatter, VirtualClock
from .config import SimConfig
from .enums import FAMILIES, PROCESSOR_FAMILIES, Family
from .faults import Fault, FaultInjector, TokenBucket
from .ids import parse_run_id, run_id
from .model import Batch, Run, World
from .query import TokenCodec
from .scenarios import (
    DeleteRate,
    FailingBatch,
    FailureSpike,
    KeyRevocation,
    RateChange,
    RunDeletion,
    Scenario,
)
from .truth import Truth
from .views import Views
from .waiting import add_waiting_runs
from .webhooks import WebhookSender
from .workload import Workload


class SimState:
    """A seeded workload of runs with faults, keys and ground truth; ``Simulator`` serves it over HTTP.

    Everything that touches the world holds ``self.lock`` (an RLock shared with ``truth``).
    """

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = cfg = config if config is not None else SimConfig()
        if cfg.default_key() not in cfg.keys:
            cfg.keys = {**cfg.keys, cfg.default_key(): {"org_scoped": False}}
        self.lock = threading.RLock()
        self.clock = VirtualClock(cfg.epoch)
        reasons = derive.reasons_without(cfg.failure_reasons_excluded)
        self.world = World(cfg.seed, reasons)
        self.catalog = build_catalog(cfg.seed, cfg.processors_per_family, cfg.workflows, self.clock.start_ms)
        self.truth = Truth(self.lock, cfg.seed, reasons)
        self.workload = Workload(cfg, self.world, self.truth, self.clock, self.catalog)
        self.workload.build_history()
        add_waiting_runs(self.workload, cfg.waiting_runs)
        self.batches = BatchBook(self.world, self.truth)
        self.batches.rebuild()
        self.truth.batch_hook = self.batches.on_change
        for waiting in cfg.waiting_batches:
            self.submit_batch(
                waiting.family, waiting.size, age_seconds=waiting.age_seconds, hold_seconds=math.inf
            )
        self.workload.start()
        freeze = cfg.gc_freeze if cfg.gc_freeze is not None else len(self.world.runs) >= 50_000
        if freeze:
            gc.freeze()
        self.views = Views(
            self.world, self.catalog, TimestampFormatter(cfg.timestamp_precision), cfg.shared_file_names
        )
        self.codec = TokenCodec(cfg.seed)
        self.faults = FaultInjector(cfg.seed)
        self.bucket = TokenBucket(cfg.qps_limit, cfg.qps_burst)
        self.revoked: set[str] = set()
        self.webhooks: WebhookSender | None = None  # delivering run ends (Simulator.deliver_webhooks)

    @property
    def api_key(self) -> str:
        return self.config.default_key()

    @property
    def workspace_id(self) -> str:
        return self.config.workspace_id

    # -- time -------------------------------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("cannot go back in time")
        with self.lock:
            self.workload.advance_to(self.clock.now_ms + round(seconds * 1000))

    def now(self) -> datetime:
        with self.lock:
            return self.clock.now()

    def virtual_elapsed(self) -> float:
        """Virtual seconds since the epoch (the simulator start)."""
        with self.lock:
            return self.clock.elapsed()

    def mark(self) -> int:
        return self.truth.mark()

    # -- faults and scenarios ---------------------------------------------------------------------
    def set_faults(self, *faults: Fault) -> None:
        """Replace all faults."""
        self.faults.set(list(faults))

    def add_fault(self, fault: Fault) -> None:
        self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    def set_qps_limit(self, limit: float | None, burst: float | None = None) -> None:
        self.bucket.configure(limit, burst)

    def set_rate(self, family: str, per_min: float) -> None:
        if family not in FAMILIES:
            raise ValueError(f"unknown family {family!r}")
        fam: Family = family
        with self.lock:
            self.workload.set_rate(fam, per_min)

    def script(self, *scenarios: Scenario) -> None:
        with self.lock:
            for sc in scenarios:
                self._script_one(sc)

    def _at(self, offset: float) -> int:
        return max(self.clock.at(offset), self.clock.now_ms)

    def _script_one(self, sc: Scenario) -> None:
        wl = self.workload
        if isinstance(sc, FailureSpike):
            wl.spikes.append(sc)
        elif isinstance(sc, Fault):
            self.faults.add(sc)
        elif isinstance(sc, KeyRevocation):
            key = sc.key
            wl.add_action(self._at(sc.at), lambda: self.revoked.add(key))
            if sc.until is not None:
                wl.add_action(self._at(sc.until), lambda: self.revoked.discard(key))
        elif isinstance(sc, RunDeletion):
            rid = sc.run_id

            def _delete() -> None:
                self._delete_locked(rid)

            wl.add_action(self._at(sc.at), _delete)
        elif isinstance(sc, DeleteRate):
            rate = sc.per_min
            wl.add_action(self._at(sc.at), lambda: wl.set_delete_rate(rate))
        elif isinstance(sc, RateChange):
            if sc.family not in FAMILIES:
                raise ValueError(f"unknown family {sc.family!r}")
            fam: Family = sc.family
            per_min = sc.per_min
            wl.add_action(self._at(sc.at), lambda: wl.set_rate(fam, per_min))
        elif isinstance(sc, FailingBatch):
            failing = sc

            def _submit() -> None:
                self.submit_batch(failing.family, failing.size, failing=True)

            wl.add_action(self._at(sc.at), _submit)
        else:
            raise TypeError(f"unknown scenario {sc!r}")
        # Apply anything already due (e.g. at <= now).
        wl.advance_to(self.clock.now_ms)

    def revoke_key(self, key: str) -> None:
        with self.lock:
            self.revoked.add(key)

    def restore_key(self, key: str) -> None:
        with self.lock:
            self.revoked.discard(key)

    # -- runs -------------------------------------------------------------------------------------
    def _seq_of(self, rid: str) -> int | None:
        parsed = parse_run_id(rid)
        if parsed is None:
            return None
        fam, seq = parsed
        run = self.world.get(seq)
        if run is None or run.fam != fam or run_id(fam, seq, self.config.seed) != rid:
            return None
        return seq

    def _delete_locked(self, rid: str) -> bool:
        seq = self._seq_of(rid)
        return seq is not None and self.workload.delete(seq)

    def delete_run(self, run_id_: str) -> bool:
        """Delete a run: it vanishes from every listing.  False if unknown or already deleted."""
        with self.lock:
            return self._delete_locked(run_id_)

    def touch_run(self, run_id_: str) -> bool:
        """Non-status update now: ``reviewed`` becomes true and updatedAt moves to now (no status change)."""
        with self.lock:
            seq = self._seq_of(run_id_)
            return seq is not None and self.workload.touch(seq)

    def finish_run(self, run_id_: str, status: str) -> bool:
        """End an active run now with a terminal status (e.g. a long-stuck one); False if not active."""
        with self.lock:
            seq = self._seq_of(run_id_)
            return seq is not None and self.workload.end_run(seq, status)

    def get_run(self, run_id_: str) -> Run | None:
        """The current (immutable) record of a run, or None if unknown/deleted."""
        with self.lock:
            seq = self._seq_of(run_id_)
            return None if seq is None else self.world.get(seq)

    def run_id_of(self, run: Run) -> str:
        return self.world.run_id(run)

    def runs(self, family: str | None = None) -> list[Run]:
        """All current runs (optionally of one family), in creation order."""
        with self.lock:
            return [r for r in self.world.runs if r is not None and (family is None or r.fam == family)]

    def find_batch(self, bid: str, families: tuple[str, ...], *, legacy: bool | None = None) -> Batch | None:
        """The batch `bid` of one of `families`; `legacy` True/False: only a legacy batch processor
        run / only a batch run (None: either)."""
        with self.lock:
            b = self.world.find_batch(bid)
            if b is None or b.fam not in families:
                return None
            if legacy is not None and (b.legacy_source is not None) != legacy:
                return None
            return b

    def submit_batch(
        self,
        family: str,
        size: int,
        *,
        hold_seconds: float = 0.0,
        drain_per_second: float | None = None,
        legacy_source: str | None = None,
        age_seconds: float = 0.0,
        failing: bool = False,
    ) -> str:
        """A batch of `size` runs created now (batches.submit); returns its id. `legacy_source`
        (EVAL_SET, PLAYGROUND, STUDIO) makes it a legacy batch processor run of a processor family."""
        if family not in FAMILIES or (legacy_source is not None and family not in PROCESSOR_FAMILIES):
            raise ValueError(
                f"no batches of family {family!r}" + (" as legacy runs" if legacy_source else "")
            )
        fam: Family = family
        with self.lock:
            batch = submit(
                self.workload,
                fam,
                size,
                hold_seconds=hold_seconds,
                drain_per_second=drain_per_second,
                legacy_source=legacy_source,
                age_seconds=age_seconds,
                failing=failing,
            )
            return self.world.batch_id(batch)

    def batch_members(self, bid: str) -> dict[str, int]:
        """Live runs of batch `bid` by status (empty for an unknown id)."""
        with self.lock:
            batch = self.world.find_batch(bid)
            return {} if batch is None else {s: n for s, n in batch.counts.items() if n > 0}

    def batch_status(self, bid: str) -> str | None:
        with self.lock:
            batch = self.world.find_batch(bid)
            return None if batch is None else batch.status

    def batch_ids(self, family: str, *, legacy: bool = False) -> list[str]:
        """Batch ids of `family`: batch runs, or (`legacy`) legacy batch processor runs."""
        with self.lock:
            return [
                self.world.batch_id(b)
                for b in self.world.batches
                if b.fam == family and (b.legacy_source is not None) == legacy
            ]
