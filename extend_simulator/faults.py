"""Fault injection and the server-side QPS limit.

A ``Fault`` fires for a request when it matches the request's endpoint template (``endpoints`` None = every
API endpoint), the virtual time is inside its window (``start``/``end``: virtual seconds since the epoch,
None = open) and either

* ``times`` is set and not used up (deterministic "the next N matching requests"), or
* ``rate`` (0..1) wins a draw from the fault RNG (seeded from the simulator seed, one draw per rate-based
  fault per request, so a given request sequence always gets the same faults).

The first firing fault (in the order given) applies.  Kinds:

===================  ====================================================================================
``rate_limit``       429 + ``Retry-After: <retry_after>`` + ``{"code":"RATE_LIMIT_EXCEEDED",...}``
``http_500``         500 with the version's error body (INTERNAL_ERROR, retryable)
``http_502``         502 with an HTML body from the "load balancer"
``http_503``         503 with an HTML body and ``Retry-After``
``slow``             the normal response after ``delay`` real seconds
``reset``            the connection is closed with a TCP RST and no response
``malformed_json``   200, ``application/json``, but the body is not valid JSON
``truncated_envelope`` 200, valid JSON, the envelope key (data/processorRuns/workflowRuns) is missing
``truncated_body``   200, body cut in the middle of the JSON (Content-Length matches the cut body)
``short_read``       200, Content-Length of the full body but only half of it sent, then the socket closes
``unauthorized``     401 with the version's error body
``usage_blocked``    402 ``USAGE_BLOCKED``
``forbidden``        403 ``FORBIDDEN``
===================  ====================================================================================
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

FaultKind = Literal[
    "rate_limit",
    "http_500",
    "http_502",
    "http_503",
    "slow",
    "reset",
    "malformed_json",
    "truncated_envelope",
    "truncated_body",
    "short_read",
    "unauthorized",
    "usage_blocked",
    "forbidden",
]
FAULT_KINDS: tuple[str, ...] = FaultKind.__args__  # type: ignore[attr-defined]
# Faults that alter a successful response instead of replacing it.
POST_FAULTS = frozenset({"slow", "malformed_json", "truncated_envelope", "truncated_body", "short_read"})


@dataclass
class Fault:
    kind: FaultKind
    rate: float = 0.0
    times: int | None = None
    endpoints: frozenset[str] | None = None
    start: float | None = None
    end: float | None = None
    retry_after: int = 1
    delay: float = 1.0
    fired: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.endpoints is not None and not isinstance(self.endpoints, frozenset):
            self.endpoints = frozenset(self.endpoints)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Fault:
        eps = obj.get("endpoints")
        return cls(
            kind=obj["kind"],
            rate=float(obj.get("rate", 0.0)),
            times=None if obj.get("times") is None else int(obj["times"]),
            endpoints=None if eps is None else frozenset(eps),
            start=None if obj.get("start") is None else float(obj["start"]),
            end=None if obj.get("end") is None else float(obj["end"]),
            retry_after=int(obj.get("retry_after", 1)),
            delay=float(obj.get("delay", 1.0)),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rate": self.rate,
            "times": self.times,
            "endpoints": None if self.endpoints is None else sorted(self.endpoints),
            "start": self.start,
            "end": self.end,
            "retry_after": self.retry_after,
            "delay": self.delay,
            "fired": self.fired,
        }


class FaultInjector:
    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._rng = random.Random(f"extend-sim-faults-{seed}")

    def set(self, faults: list[Fault]) -> None:
        with self._lock:
            self._faults = list(faults)

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults = []

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def pick(self, template: str, vnow: float) -> Fault | None:
        """The fault to apply to this request (``vnow``: virtual seconds since the epoch), or None."""
        with self._lock:
            chosen: Fault | None = None
            for f in self._faults:
                if f.endpoints is not None and template not in f.endpoints:
                    continue
                if f.start is not None and vnow < f.start:
                    continue
                if f.end is not None and vnow >= f.end:
                    continue
                if f.times is not None:
                    if f.fired >= f.times:
                        continue
                    hit = True
                else:
                    hit = f.rate > 0 and self._rng.random() < f.rate
                if hit and chosen is None:
                    chosen = f
                    f.fired += 1
                    if f.times is not None:
                        break
            return chosen


class TokenBucket:
    """Server-side QPS limit on wall-clock time (global across keys and endpoints, like the plan limits)."""

    def __init__(self, rate: float | None, burst: float | None = None) -> None:
        self._lock = threading.Lock()
        self.configure(rate, burst)

    def configure(self, rate: float | None, burst: float | None = None) -> None:
        with self._lock:
            self.rate = rate
            self.capacity = (burst if burst is not None else rate) or 0.0
            self.tokens = self.capacity
            self.last = time.monotonic()

    def acquire(self) -> float:
        """0.0 if the request may proceed, else the seconds until a token is available."""
        with self._lock:
            if not self.rate:
                return 0.0
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return 0.0
            return (1.0 - self.tokens) / self.rate
