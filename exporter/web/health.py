"""Readiness: every kind has synced, recently, and is not failing over and over."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

FAILURES_BEFORE_UNREADY = 3


@dataclass
class _KindHealth:
    last_success: float | None = None
    consecutive_failures: int = 0


class Health:
    def __init__(
        self, kinds: Iterable[str], poll_interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._kinds = {k: _KindHealth() for k in kinds}
        # Stale once three syncs in a row are overdue (or a minute past one, for long intervals).
        self.stale_after = max(3 * poll_interval, poll_interval + 60.0)
        self._clock = clock
        self._lock = threading.Lock()

    def success(self, kind: str) -> None:
        with self._lock:
            h = self._kinds[kind]
            h.last_success = self._clock()
            h.consecutive_failures = 0

    def failure(self, kind: str) -> None:
        with self._lock:
            self._kinds[kind].consecutive_failures += 1

    def problems(self) -> list[str]:
        """Why the exporter is not ready; empty when it is."""
        now = self._clock()
        out: list[str] = []
        with self._lock:
            for kind, h in sorted(self._kinds.items()):
                if h.last_success is None:
                    out.append(f"{kind}: no successful sync yet")
                elif h.consecutive_failures >= FAILURES_BEFORE_UNREADY:
                    out.append(f"{kind}: {h.consecutive_failures} syncs failed in a row")
                elif now - h.last_success > self.stale_after:
                    out.append(f"{kind}: last successful sync {now - h.last_success:.0f}s ago")
        return out
