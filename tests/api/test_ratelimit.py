"""The request budget: bounded in every window, fair among workspaces, held by a Retry-After, and
left at once at shutdown. Real threads and the real clock, at rates high enough to take seconds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from exporter.api.ratelimit import RequestBudget
from tests.exporter_process import wait_until
from tests.reliability.request_log import most_in_window


class GrantLog(RequestBudget):
    """A budget that notes each grant at the instant it makes it: on a loaded machine a thread may get
    to note its own grant a quarter of a second later, which bunches times the budget kept apart."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.times: list[float] = []

    def _take(self, now: float) -> None:
        super()._take(now)
        self.times.append(now)


def hammer(budget: RequestBudget, lane: str, stop: threading.Event, grants: list[tuple[str, float]]) -> None:
    while not stop.is_set():
        if budget.acquire(lane, stop):
            grants.append((lane, time.monotonic()))


def run_threads(targets: list[Callable[[], None]]) -> list[threading.Thread]:
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    return threads


def test_every_window_holds_at_most_its_share_of_the_budget() -> None:
    # The 10 s window, scaled to 1 s so the test takes seconds: any 1 s holds at most rate x 1 s.
    rate, burst, window = 40.0, 40.0, 1.0
    budget = GrantLog(rate, burst, window=window)
    stop = threading.Event()
    grants: list[tuple[str, float]] = []
    threads = run_threads([partial(hammer, budget, f"ws{i % 3}", stop, grants) for i in range(6)])
    wait_until(lambda: len(grants) >= 100, timeout=15, message="100 grants")  # ~2.5 s at this budget
    stop.set()
    budget.wake_all()
    for thread in threads:
        thread.join(timeout=5)
    times = budget.times
    assert len(times) >= 2 * rate  # saturated the whole time
    assert (
        most_in_window(times, window, half_open=True) <= budget.window_cap == 40
    )  # the average over any window: the budget
    for span in (0.1, 0.25, 0.5):  # shorter windows: the token bucket, rate x span plus the burst
        assert most_in_window(times, span, half_open=True) <= rate * span + burst, span


def test_any_second_holds_at_most_rate_plus_burst_even_right_after_a_burst() -> None:
    rate = 20.0
    budget = GrantLog(rate)  # burst: one second's worth
    stop = threading.Event()
    grants: list[tuple[str, float]] = []
    threads = run_threads([lambda: hammer(budget, "ws", stop, grants) for _ in range(4)])
    wait_until(lambda: len(grants) >= 70, timeout=15, message="70 grants")  # the burst, then ~2.5 s
    stop.set()
    budget.wake_all()
    for thread in threads:
        thread.join(timeout=5)
    times = budget.times
    # Counted over 1.25 s here, so any 1 s at the API holds at most 40 even when answers jitter.
    assert most_in_window(times, 1.25, half_open=True) <= budget.second_cap == 40


def test_a_busy_workspace_cannot_starve_an_idle_one() -> None:
    """Eight requests of one workspace always waiting, one of another now and then: the idle one waits
    for at most one of the busy one's grants (round-robin), not for all eight (first come first served)."""
    rate = 10.0
    budget = RequestBudget(rate, burst=1)
    stop = threading.Event()
    grants: list[tuple[str, float]] = []
    busy = run_threads([lambda: hammer(budget, "busy", stop, grants) for _ in range(8)])
    waits: list[float] = []
    try:
        for _ in range(6):
            time.sleep(0.15)  # the idle workspace's pace: the busy one keeps eight requests queued
            asked = time.monotonic()
            assert budget.acquire("idle", stop)
            waits.append(time.monotonic() - asked)
    finally:
        stop.set()
        budget.wake_all()
        for thread in busy:
            thread.join(timeout=5)
    # FIFO would make each idle request wait ~8 grants (0.8 s); round-robin at most ~2 (0.2 s).
    assert max(waits) < 3 / rate + 0.1, waits
    assert sum(1 for lane, _ in grants if lane == "busy") >= len(waits)  # and the busy one the rest


def test_a_retry_after_holds_every_workspace() -> None:
    budget = RequestBudget(100.0)
    assert budget.acquire("ws_a")
    budget.hold(0.4)
    assert 0.3 < budget.hold_remaining() <= 0.4
    started = time.monotonic()
    assert budget.acquire("ws_b")  # another workspace: held just the same
    assert time.monotonic() - started >= 0.35
    assert budget.hold_remaining() == 0.0


def test_waiters_leave_at_once_when_stopped() -> None:
    budget = RequestBudget(0.5, burst=1)  # one grant, then one every 2 s
    assert budget.acquire("ws_a")
    stop = threading.Event()
    results: list[bool] = []
    threads = run_threads([lambda: results.append(budget.acquire("ws_a", stop)) for _ in range(3)])
    wait_until(lambda: budget.waiting() == 3, timeout=5, message="three waiting")
    started = time.monotonic()
    stop.set()
    budget.wake_all()
    for thread in threads:
        thread.join(timeout=5)
    assert results == [False, False, False]
    assert time.monotonic() - started < 0.5


def test_a_request_never_overtakes_one_already_waiting() -> None:
    budget = RequestBudget(5.0, burst=1)
    assert budget.acquire("ws_a")  # the burst is spent: the next waits ~0.2 s
    order: list[str] = []
    first = run_threads([lambda: order.append("first") if budget.acquire("ws_a") else None])
    wait_until(lambda: budget.waiting() == 1, timeout=5, interval=0.002, message="the first one waiting")
    assert budget.acquire("ws_a")  # same lane, later: behind it
    order.append("second")
    first[0].join(timeout=5)
    assert order == ["first", "second"]
