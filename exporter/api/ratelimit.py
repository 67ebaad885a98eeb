"""The request budget: every API request of the process waits here for its turn.

Extend limits the organisation, not the workspace, so one budget serves every workspace and kind:

- **Rate**: a token bucket (`rate` requests a second, up to `burst` at once; one second's worth by
  default), and two sliding windows on top: at most `rate` + `burst` requests in any 1 s and at
  most `rate` x 10 in any 10 s, so the average over any 10 s stays within the budget even right
  after a burst. Each window is counted over 0.25 s more than its length, so that jitter on the way
  to the API cannot make a window there hold one request more than here.
- **Fair**: requests that must wait are granted round-robin among lanes (one lane per workspace),
  first come first served within a lane, so a workspace with many requests queued cannot starve one
  with a few; a request never overtakes one already waiting.
- **Hold**: a `Retry-After` any workspace receives holds every lane until it has passed, as the
  organisation's limit is shared.

Waiting threads sleep on an event of their own; only the one to be granted next keeps time, so a
grant wakes one thread, not every waiter.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 10.0
# Grants are counted over a longer span than the window they bound (see the docstring).
WINDOW_GUARD_SECONDS = 0.25
# A waiter that is not next re-checks its stop event this often at the latest (abort wakes it at once).
_IDLE_WAIT_SECONDS = 5.0


class _Ticket:
    __slots__ = ("event", "granted", "since")

    def __init__(self, since: float) -> None:
        self.event = threading.Event()
        self.granted = False
        self.since = since


class RequestBudget:
    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_wait: Callable[[float], None] | None = None,
        window: float = WINDOW_SECONDS,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self.window_cap = max(1, math.floor(rate * window))
        self.second_cap = max(1, math.floor(rate + self.capacity))
        # (span counted over, most grants in it): the one-second window, then the long one.
        self._windows = (
            (1.0 + WINDOW_GUARD_SECONDS, self.second_cap),
            (window + WINDOW_GUARD_SECONDS, self.window_cap),
        )
        self._span = max(span for span, _ in self._windows)
        self._clock = clock
        self._on_wait = on_wait  # told every wait for a grant, so a saturated budget is visible
        self._lock = threading.Lock()
        self._tokens = self.capacity
        self._stamp = clock()
        self._granted: deque[float] = deque()  # grant times within the last window span
        self._lanes: dict[str, deque[_Ticket]] = {}  # lanes with waiters, in round-robin order
        self._timekeeper: _Ticket | None = None
        self._hold_until = 0.0

    # --- the shared Retry-After hold -----------------------------------------------------------------

    def hold(self, seconds: float) -> None:
        """Grant nothing for `seconds` (a Retry-After): every lane waits."""
        with self._lock:
            self._hold_until = max(self._hold_until, self._clock() + seconds)

    def hold_remaining(self) -> float:
        with self._lock:
            return max(0.0, self._hold_until - self._clock())

    # --- grants --------------------------------------------------------------------------------------

    def acquire(self, lane: str = "", stop: threading.Event | None = None) -> bool:
        """Block until a request of `lane` may be sent. False when `stop` was set while waiting."""
        with self._lock:
            now = self._clock()
            if not self._lanes and self._until_grant(now) <= 0:
                self._take(now)
                return True
            ticket = _Ticket(now)
            self._lanes.setdefault(lane, deque()).append(ticket)
            self._dispatch(now)
        while True:
            with self._lock:
                now = self._clock()
                self._dispatch(now)
                if ticket.granted:
                    break
                if stop is not None and stop.is_set():
                    self._withdraw(lane, ticket)
                    self._dispatch(now)
                    return False
                timeout = self._until_grant(now) if ticket is self._timekeeper else _IDLE_WAIT_SECONDS
                ticket.event.clear()
            ticket.event.wait(max(timeout, 0.0))
        if self._on_wait is not None:
            self._on_wait(max(0.0, self._clock() - ticket.since))
        return True

    def waiting(self) -> int:
        """Requests waiting for a grant."""
        with self._lock:
            return sum(len(tickets) for tickets in self._lanes.values())

    def wake_all(self) -> None:
        """Wake every waiter so it re-checks its stop event (at shutdown)."""
        with self._lock:
            for tickets in self._lanes.values():
                for ticket in tickets:
                    ticket.event.set()

    def _refill(self, now: float) -> None:
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        while self._granted and self._granted[0] <= now - self._span:
            self._granted.popleft()

    def _until_grant(self, now: float) -> float:
        """Seconds until the next request may go (0: now)."""
        self._refill(now)
        wait = max(self._hold_until - now, (1.0 - self._tokens) / self.rate)
        for span, cap in self._windows:
            if len(self._granted) >= cap:
                wait = max(wait, self._granted[-cap] + span - now)
        return max(wait, 0.0)

    def _take(self, now: float) -> None:
        self._tokens -= 1.0
        self._granted.append(now)

    def _dispatch(self, now: float) -> None:
        """Grant waiters round-robin while the budget allows; make the next one the timekeeper."""
        while self._lanes and self._until_grant(now) <= 0:
            lane, tickets = next(iter(self._lanes.items()))
            ticket = tickets.popleft()
            del self._lanes[lane]
            if tickets:
                self._lanes[lane] = tickets  # to the back of the round
            self._take(now)
            ticket.granted = True
            ticket.event.set()
        following = next(iter(self._lanes.values()))[0] if self._lanes else None
        if following is not self._timekeeper:
            self._timekeeper = following
            if following is not None:
                following.event.set()  # it sleeps without a deadline: wake it to keep time

    def _withdraw(self, lane: str, ticket: _Ticket) -> None:
        tickets = self._lanes.get(lane)
        if tickets is not None and ticket in tickets:
            tickets.remove(ticket)
            if not tickets:
                del self._lanes[lane]
