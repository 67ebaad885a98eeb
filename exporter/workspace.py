"""One workspace's share of the exporter: its kinds' ledgers and syncers, its API client and its own
metrics, and what the process keeps about each kind (a lock, the copy the state file gets, failures
in a row).

The unit of polling is (workspace, kind): the scheduler runs one job per pair, which syncs here
(`sync`) and has the exporter report how it went. Each workspace has an API client of its own (its
`x-extend-workspace-id`) under the one request budget: Extend limits the organisation, not the
workspace. After each sync of a kind the workspace's batch tracker reads what that sync owes its
batches (batches/tracker.py); the tracker's state is the workspace's `batches` in its section of the
state file.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .api.identity import key_fingerprint
from .statefile.upgrade import UNNAMED_SECTION

if TYPE_CHECKING:
    from .api.client import ApiClient
    from .batches.tracker import BatchTracker
    from .engine.kind_state import KindSnapshot, KindState
    from .metrics.telemetry import WorkspaceTelemetry
    from .sync import KindSyncer, SyncReport


class Workspace:
    def __init__(
        self,
        workspace_id: str | None,
        api_key: Callable[[], str],
        client: ApiClient,
        states: Mapping[str, KindState],
        syncers: Mapping[str, KindSyncer],
        telemetry: WorkspaceTelemetry,
        *,
        clock: Callable[[], float] = time.time,
        persist: bool = False,
        named: bool = False,
        batches: BatchTracker | None = None,
    ) -> None:
        self.workspace_id = workspace_id
        self.section = workspace_id or UNNAMED_SECTION  # its key in the state file
        self._api_key = api_key
        self.client = client
        self.states = dict(states)
        self.syncers = dict(syncers)
        self.telemetry = telemetry
        self.kinds = tuple(self.states)
        self._clock = clock
        self._persist = persist  # whether a state file takes copies of the states
        self._named = named  # whether logs, readiness and job ids name it (several workspaces)
        self._locks = {k: threading.Lock() for k in self.kinds}
        # What the state file gets for each kind: a copy taken when its last sync completed (or at load),
        # so flushing never waits for a sync in flight (a hung request must not block shutdown).
        self._persisted: dict[str, dict[str, Any]] = {}
        self._sync_started: dict[str, float] = {}  # time.monotonic() at the last sync start, per kind
        self._failures_in_a_row = dict.fromkeys(self.kinds, 0)
        self._synced: set[str] = set()  # kinds with a successful sync in this process
        self.batches = batches
        self._persisted_batches: dict[str, Any] | None = None
        self._running: dict[str, float] = {}  # kind -> time.monotonic() its sync now running started
        self._hinted: set[str] = set()  # kinds a webhook asked to sync since their last sync started
        self._hint_lock = threading.Lock()

    def identity(self) -> str:
        """Its `workspace` label: the ID where set, else the key's fingerprint (follows a rotated key)."""
        return self.workspace_id or key_fingerprint(self._api_key())

    def name(self, kind: str) -> str:
        """How logs, readiness and the scheduler name (this workspace, `kind`): the kind alone while
        the exporter polls one workspace, as before there were several."""
        return f"{self.identity()}/{kind}" if self._named else kind

    def busy(self) -> bool:
        """Whether a sync of one of its kinds is running."""
        return any(lock.locked() for lock in self._locks.values())

    def sync(self, kind: str) -> tuple[SyncReport, KindSnapshot]:
        """One sync of `kind` under its lock; raises what the sync raises."""
        with self._locks[kind]:
            self._running[kind] = time.monotonic()
            try:
                report = self.syncers[kind].sync()
                state = self.states[kind]
                if self.batches is not None:
                    self.batches.after_sync(kind, state.position)
            finally:
                del self._running[kind]
            state.last_success = self._clock()
            snapshot = state.snapshot()
            if self._persist:
                self._persisted[kind] = state.to_dict()
                if self.batches is not None:
                    self._persisted_batches = self.batches.to_dict()
        return report, snapshot

    def running_for(self, kind: str) -> float:
        """Seconds the sync of `kind` now running has taken so far; 0 when none runs."""
        started = self._running.get(kind)
        return 0.0 if started is None else time.monotonic() - started

    def watch_batch(self, kind: str, batch_id: str) -> None:
        """Track a batch a webhook announced (`batch_parse_run.*`, `batch_processor_run.*`): the
        listener's `watch_batch(kind, batch_id)` hint. Cheap and thread-safe; read at the next sync."""
        if self.batches is not None:
            self.batches.watch_batch(kind, batch_id)

    # --- bookkeeping the exporter reports from ---------------------------------------------------

    def started(self, kind: str) -> float | None:
        """Note that a sync of `kind` starts: seconds since its previous start (None for the first)."""
        now = time.monotonic()
        previous = self._sync_started.get(kind)
        self._sync_started[kind] = now
        return None if previous is None else now - previous

    def hint(self, kind: str) -> None:
        """A webhook asked for a sync of `kind`: the next one to start answers it."""
        with self._hint_lock:
            self._hinted.add(kind)

    def take_hint(self, kind: str) -> bool:
        """Whether a webhook asked for the sync of `kind` now starting (forgets the ask)."""
        with self._hint_lock:
            hinted = kind in self._hinted
            self._hinted.discard(kind)
            return hinted

    def hinted(self) -> bool:
        """A webhook asked for a sync that has not started yet."""
        with self._hint_lock:
            return bool(self._hinted)

    def succeeded(self, kind: str) -> tuple[int, bool]:
        """The failures in a row this success ends, and whether it is the kind's first in this process."""
        failures, self._failures_in_a_row[kind] = self._failures_in_a_row[kind], 0
        first = kind not in self._synced
        self._synced.add(kind)
        return failures, first

    def failed(self, kind: str) -> None:
        self._failures_in_a_row[kind] += 1

    # --- the state file ----------------------------------------------------------------------------

    def persisted(self) -> dict[str, dict[str, Any]]:
        """Consistent copies of the kinds' states, taken between two syncs."""
        return dict(self._persisted)

    def persisted_batches(self) -> dict[str, Any] | None:
        """The batch tracker's state as of the last completed sync (None: no tracker, or not yet)."""
        return self._persisted_batches

    def restored(self, batches: Mapping[str, Any] | None = None) -> None:
        """The state file was loaded into the states (and `batches`, the section's batches, if it has
        them): take them as the copies to write back."""
        if self.batches is not None and batches is not None:
            self.batches.load_dict(batches)
        for kind, state in self.states.items():
            with self._locks[kind]:
                self._persisted[kind] = state.to_dict()
        if self.batches is not None:
            self._persisted_batches = self.batches.to_dict()
