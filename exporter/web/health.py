"""Readiness: every (workspace, kind) has synced, recently, and is not failing over and over; and its
first sync is on /metrics (assembled shortly after a sync ends, see metrics/collector.py), so whoever
waits for readiness reads counts there."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

FAILURES_BEFORE_UNREADY = 3


@dataclass
class _SyncHealth:
    first_success: float | None = None
    last_success: float | None = None
    consecutive_failures: int = 0


class Health:
    """The syncs' health by name: the kind, or `<workspace>/<kind>` when the exporter polls several."""

    def __init__(
        self,
        names: Iterable[str] = (),
        poll_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        exposed_since: Callable[[], float] | None = None,
    ) -> None:
        """`exposed_since`: when (on `clock`) the exposition /metrics serves began to be assembled."""
        self._syncs = {name: _SyncHealth() for name in names}
        self._exposed_since = exposed_since
        # Stale once three syncs in a row are overdue (or a minute past one, for long intervals).
        self.stale_after = max(3 * poll_interval, poll_interval + 60.0)
        self._clock = clock
        self._lock = threading.Lock()

    def add(self, names: Iterable[str]) -> None:
        with self._lock:
            for name in names:
                self._syncs.setdefault(name, _SyncHealth())

    def success(self, name: str) -> None:
        with self._lock:
            h = self._syncs[name]
            h.last_success = self._clock()
            if h.first_success is None:
                h.first_success = h.last_success
            h.consecutive_failures = 0

    def failure(self, name: str) -> None:
        with self._lock:
            self._syncs[name].consecutive_failures += 1

    def problems(self) -> list[str]:
        """Why the exporter is not ready; empty when it is."""
        now = self._clock()
        exposed = self._exposed_since() if self._exposed_since is not None else now
        out: list[str] = []
        with self._lock:
            for name, h in sorted(self._syncs.items()):
                if h.last_success is None:
                    out.append(f"{name}: no successful sync yet")
                elif h.first_success is not None and exposed < h.first_success:
                    out.append(f"{name}: first sync not on /metrics yet")
                elif h.consecutive_failures >= FAILURES_BEFORE_UNREADY:
                    out.append(f"{name}: {h.consecutive_failures} syncs failed in a row")
                elif now - h.last_success > self.stale_after:
                    out.append(f"{name}: last successful sync {now - h.last_success:.0f}s ago")
        return out
