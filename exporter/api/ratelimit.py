"""A token bucket shared by every sync job, so the exporter as a whole stays under a request rate."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self._tokens = self.capacity
        self._clock = clock
        self._stamp = clock()
        self._lock = threading.Lock()
        self._on_wait = on_wait  # told every wait for a token, so a saturated budget is visible

    def _reserve(self) -> float:
        """Take one token, possibly going into debt; return how long the caller must wait."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Block until a request may be sent. False when `stop` was set while waiting."""
        wait = self._reserve()
        if wait <= 0:
            return True
        if self._on_wait is not None:
            self._on_wait(wait)
        if stop is None:
            time.sleep(wait)
            return True
        return not stop.wait(wait)
