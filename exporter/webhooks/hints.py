"""The seam between the webhook listener and the exporter: what a delivery may ask, and how often.

The listener calls nothing but `Hints`:

- `sync_kind_now(kind)`: a run of this kind ended; sync the kind soon. A hint never counts anything:
  the sync that follows counts from the listings, so a lost, duplicated, replayed or forged delivery
  changes no count.
- `watch_batch(kind, batch_id)`: a batch event (`batch_parse_run.*`, `batch_processor_run.*`) names
  a batch: `Exporter.watch_batch` tracks it (exporter/batches/), whatever kinds the exporter syncs, since
  a batch of any kind is followed. A `batch_processor_run` event names no run type, so it is passed on
  once per candidate kind and the batch is resolved from the API. Like a run hint it never counts: the
  batch's status and runs are read from the API, and its end is counted once from there.

`CoalescedHints` is that seam for the exporter: a kind's first hint pulls its sync forward at once
(`Exporter.sync_now`), later ones within the gap (EXTEND_EXPORTER_WEBHOOK_MIN_SYNC_INTERVAL_SECONDS,
MIN_GAP_SECONDS by default) book one more sync at its end, so a burst of events costs about one sync
per kind per gap, never one per event. The
scheduler adds its own coalescing (asks while a sync runs get one sync after it), and every sync
draws on the shared request budget like a scheduled one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

# At most one hinted sync of a kind starts per this many seconds (plus the scheduler's own wait for a
# sync still running): the latency target is about a second, and a burst must cost a few syncs.
MIN_GAP_SECONDS = 1.0


class Hints(Protocol):
    """What the webhook listener tells the exporter."""

    def sync_kind_now(self, kind: str) -> None: ...

    def watch_batch(self, kind: str, batch_id: str) -> None: ...


class HintTarget(Protocol):
    """What the exporter offers the hints (app.Exporter)."""

    @property
    def kinds(self) -> tuple[str, ...]: ...

    def sync_now(self, kind: str) -> bool: ...

    def watch_batch(self, kind: str, batch_id: str) -> None: ...


class CoalescedHints:
    def __init__(
        self,
        target: HintTarget,
        min_gap: float = MIN_GAP_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._target = target
        self._min_gap = min_gap
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}  # when each kind's last hinted sync was asked for
        self._booked: dict[str, threading.Timer] = {}  # a sync asked for at the end of the gap
        self._closed = False

    def sync_kind_now(self, kind: str) -> None:
        if kind not in self._target.kinds:
            return
        with self._lock:
            if self._closed or kind in self._booked:
                return
            now = self._clock()
            wait = self._last.get(kind, -float("inf")) + self._min_gap - now
            if wait > 0:
                timer = threading.Timer(wait, self._fire_booked, args=(kind,))
                timer.daemon = True
                self._booked[kind] = timer
                timer.start()
                return
            self._last[kind] = now
        self._target.sync_now(kind)

    def watch_batch(self, kind: str, batch_id: str) -> None:
        self._target.watch_batch(kind, batch_id)

    def _fire_booked(self, kind: str) -> None:
        with self._lock:
            self._booked.pop(kind, None)
            if self._closed:
                return
            self._last[kind] = self._clock()
        self._target.sync_now(kind)

    def idle(self) -> bool:
        """No sync is booked for the end of a gap."""
        with self._lock:
            return not self._booked

    def close(self) -> None:
        """Cancel booked syncs (shutting down)."""
        with self._lock:
            self._closed = True
            timers, self._booked = list(self._booked.values()), {}
        for timer in timers:
            timer.cancel()
