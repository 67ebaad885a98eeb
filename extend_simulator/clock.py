"""Virtual clock (integer ms since the Unix epoch), timestamp formatting and the real-time driver."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from .config import Precision


class VirtualClock:
    """A clock that only moves when told to.  Not thread-safe on its own: the world lock guards it."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self.start_ms = int(start.timestamp() * 1000)
        self.now_ms = self.start_ms

    def now(self) -> datetime:
        return ms_to_datetime(self.now_ms)

    def elapsed(self) -> float:
        """Virtual seconds since the start (the epoch)."""
        return (self.now_ms - self.start_ms) / 1000.0

    def at(self, offset_seconds: float) -> int:
        """Absolute ms of a moment given as seconds after the start."""
        return self.start_ms + round(offset_seconds * 1000)


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000.0, tz=UTC)


def quantize(ms: int, precision: Precision) -> int:
    return ms - ms % 1000 if precision == "s" else ms


class TimestampFormatter:
    """RFC 3339 UTC strings ("2024-03-21T15:29:55Z" or "...55.123Z") with a per-second cache."""

    def __init__(self, precision: Precision) -> None:
        self.precision = precision
        self._cache: dict[int, str] = {}

    def __call__(self, ms: int) -> str:
        sec, rem = divmod(ms, 1000)
        base = self._cache.get(sec)
        if base is None:
            if len(self._cache) > 400_000:
                self._cache.clear()
            base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
            self._cache[sec] = base
        if self.precision == "s":
            return base + "Z"
        return f"{base}.{rem:03d}Z"


class RealtimeDriver:
    """Background thread that advances the virtual clock to follow wall time (times ``speed``)."""

    def __init__(self, advance: Callable[[float], None], speed: float = 1.0, tick: float = 0.1) -> None:
        self._advance = advance
        self._speed = speed
        self._tick = tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-realtime", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(self._tick):
            now = time.monotonic()
            self._advance((now - last) * self._speed)
            last = now
