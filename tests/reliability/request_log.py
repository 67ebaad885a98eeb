"""Every API request the simulator answered, with its time, and the busiest window of them."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass

from extend_simulator import Organisation, Simulator


@dataclass(frozen=True)
class Request:
    at: float  # time.monotonic() when the simulator answered
    endpoint: str
    code: int  # 0: connection reset
    workspace: str = ""  # the workspace an organisation's request named ("" for a plain simulator)


class RequestLog:
    """Every API request the simulator answered, with its time: hooks `truth.on_request` of a
    simulator, or `on_request` of an organisation (every workspace's requests, and those refused)."""

    def __init__(self, sim: Simulator | Organisation) -> None:
        self._lock = threading.Lock()
        self.requests: list[Request] = []
        if isinstance(sim, Organisation):
            on_org_request = sim.on_request

            def record_org(workspace: str, template: str, code: int) -> None:
                with self._lock:
                    self.requests.append(Request(time.monotonic(), template, code, workspace))
                on_org_request(workspace, template, code)

            setattr(sim, "on_request", record_org)  # noqa: B010 - a test hook on one instance
            return
        original = sim.truth.on_request

        def record(template: str, code: int) -> None:
            with self._lock:
                self.requests.append(Request(time.monotonic(), template, code))
            original(template, code)

        setattr(sim.truth, "on_request", record)  # noqa: B010 - a test hook on one instance

    def since(self, index: int) -> list[Request]:
        with self._lock:
            return self.requests[index:]

    def mark(self) -> int:
        with self._lock:
            return len(self.requests)

    def by_code(self, index: int) -> dict[int, int]:
        return dict(Counter(r.code for r in self.since(index)))


def max_in_window(requests: list[Request], window: float, *, half_open: bool = False) -> int:
    """The most requests answered within any `window` seconds ([t, t + window], or [t, t + window))."""
    return most_in_window([r.at for r in requests], window, half_open=half_open)


def most_in_window(times: list[float], window: float, *, half_open: bool = False) -> int:
    """The most of `times` within any `window` seconds ([t, t + window], or [t, t + window))."""
    ordered = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(ordered):
        while t - ordered[start] > window or (half_open and t - ordered[start] >= window):
            start += 1
        best = max(best, end - start + 1)
    return best
