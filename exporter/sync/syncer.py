"""`KindSyncer.sync`: one sync of one run kind, from the listings to the engine.

It puts the steps together (exporter/sync/__init__.py tells them in order) and keeps what a sync
reports; each step lives in its own module. The sync asks the kind's state only through its named
methods (engine.KindState), never its fields.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from ..api.client import ApiClient
from ..engine.kind_state import ApplyResult, KindState
from ..engine.observation import Observation
from ..kinds import KindSpec, Order
from .attribution import Attribution
from .listings import Listings, OrderChanged
from .old_active import reobserve_old_active
from .scan import Scanner

log = logging.getLogger("exporter.sync")  # one logger for the whole sync, as log lines always named it


@dataclass(frozen=True)
class SyncSettings:
    page_size: int = 1000
    overlap_seconds: float = 120.0
    reconcile_interval_seconds: float = 900.0
    max_rereads: int = 3
    attribution_rounds: int = 3


@dataclass(frozen=True)
class SyncReport:
    kind: str
    requests: int
    observed: int
    baseline: bool
    reconciled: bool
    result: ApplyResult
    duration: float
    rereads: int = 0  # re-reads from the top because the scan paged while the list changed


class SyncObserver(Protocol):
    """Hears what each sync of a kind saw, after its last request and before its counts change (the
    batch tracker learns batches and their runs' statuses here)."""

    def observed(
        self, spec: KindSpec, seen: Mapping[str, Observation], floor: float, listed: Mapping[str, set[str]]
    ) -> None:
        """`seen`: the latest summary of each run listed; `floor`: the order key the scan read down to
        (a run created at or after it was listed); `listed`: batches whose runs were all listed, with
        their run ids."""


@dataclass
class _Collected:
    """What the listings of one sync returned, before attribution."""

    seen: dict[str, Observation]  # latest summary per run
    reconciled: set[str] | None  # every run the reconcile listings and the scan returned
    position: float  # where the scan's coverage ends
    scan_floor: float  # the order key the scan read down to


class KindSyncer:
    """The syncs of one kind: each `sync()` reads what changed and folds it into the kind's state."""

    def __init__(
        self,
        state: KindState,
        client: ApiClient,
        settings: SyncSettings,
        *,
        clock: Callable[[], float] = time.time,
        on_invalid_summary: Callable[[str], None] | None = None,
        observer: SyncObserver | None = None,
    ) -> None:
        self.state = state
        self.spec: KindSpec = state.spec
        self.client = client
        self.settings = settings
        self.listings = Listings(state, client, settings.page_size, on_invalid_summary)
        self._scanner = Scanner(state, self.listings, settings.max_rereads)
        self._attribution = Attribution(state, self.listings, settings.attribution_rounds)
        self._clock = clock
        self._last_reconcile = clock()
        self._last_duration = 0.0
        self._vanished: set[str] = set()  # old active runs no listing returns any more: deleted
        self._listed: dict[str, set[str]] = {}  # batches whose runs this sync listed in full
        self.observer = observer

    @property
    def overlap(self) -> float:
        # Covers clock skew and write-visibility lag, plus however long the last sync took.
        return self.settings.overlap_seconds + self._last_duration

    def sync(self, *, force_reconcile: bool = False) -> SyncReport:
        started = self._clock()
        baseline = self.state.position is None
        reconcile = (
            baseline
            or force_reconcile
            or (started - self._last_reconcile >= self.settings.reconcile_interval_seconds)
        )
        self.listings.requests = 0
        self._scanner.begin()
        self._vanished, self._listed = set(), {}
        for _ in range(3):
            try:
                got = self._collect(baseline, reconcile)
                need = {rid for rid, obs in got.seen.items() if self.state.needs_source(obs, baseline)}
                sources = self._attribution.find(need, got.seen, got.scan_floor) if need else {}
                break
            except OrderChanged as change:
                # Found while scanning or attributing: start the sync over in the order seen.
                log.warning(
                    "%s: listing order is %s, not %s; adapting",
                    self.spec.name,
                    change.order.value,
                    self.state.effective_order.value,
                )
                self.state.adopt_order(change.order)
        else:  # pragma: no cover - the order can change at most twice (CREATED -> UPDATED -> NONE)
            raise RuntimeError("listing order kept changing")
        if self.observer is not None:
            try:
                self.observer.observed(self.spec, got.seen, got.scan_floor, self._listed)
            except MemoryError:
                raise  # the process ends on it (fatal.out_of_memory), as anywhere else in a sync
            except Exception:  # a fault in the batch families must never cost the run counts
                log.exception("%s: batches not updated by this sync (the runs are counted)", self.spec.name)
        result = self.state.apply(
            got.seen.values(),
            sources,
            overlap=self.overlap,
            new_position=got.position,
            baseline=baseline,
            reconciled=got.reconciled,
            settled=self._scanner.settled,
        )
        self.state.forget_active(self._vanished)
        if reconcile:
            self._last_reconcile = started
        duration = self._clock() - started
        self._last_duration = max(0.0, duration)
        return SyncReport(
            self.spec.name,
            self.listings.requests,
            len(got.seen),
            baseline,
            reconcile,
            result,
            duration,
            self._scanner.rereads,
        )

    def _collect(self, baseline: bool, reconcile: bool) -> _Collected:
        seen: dict[str, Observation] = {}
        order = self.state.effective_order
        probe_top: float | None = None
        if baseline and order is not Order.NONE:
            probe_top = self._scanner.top_key()
        reconciled = self.listings.read_active(seen) if reconcile else None
        bound = self._scanner.bound(probe_top, self.overlap)
        top, pages = self._scanner.scan(seen, bound)
        if order is not Order.NONE and pages > 1 and top is not None:
            self._scanner.reread(seen, top)
        # The position is where the scan's coverage ends. The listings read after it (re-observing old
        # active runs) may return runs created since the scan read the top; anchoring on those would
        # put the runs created and finished meanwhile, which no status listing holds, below the next
        # window: never counted.
        known = [self.state.order_key(obs) for obs in seen.values()]
        if order is Order.CREATED and not baseline:
            listed_active = reconciled is not None
            vanished, self._listed = reobserve_old_active(
                self.listings, self.state, seen, bound, listed_active=listed_active
            )
            self._vanished.update(vanished)
        if reconciled is not None:
            reconciled.update(seen)
        known += [k for k in (probe_top, self.state.position) if k is not None]
        # An empty list has no server timestamp to anchor on (and our clock may be skewed from the
        # server's): anchor at the epoch, so every run that appears later counts as new.
        position = max(known) if known else 0.0
        return _Collected(seen, reconciled, position, bound)
