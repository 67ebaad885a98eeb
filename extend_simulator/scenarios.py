"""Scripted scenarios for ``Simulator.script(...)``.  Times are virtual seconds since the epoch.

* ``FailureSpike(family, start, end, failure_rate=1.0)``: runs of ``family`` finishing in [start, end)
  fail with ``failure_rate`` instead of the configured rate.
* ``KeyRevocation(key, at, until=None)``: the key answers 401 from ``at`` (and again works from ``until``).
* ``RunDeletion(run_id, at)``: delete one run at ``at``.
* ``DeleteRate(per_min, at=0)``: from ``at``, delete random existing runs at this rate.
* ``RateChange(family, per_min, at)``: change an arrival rate at ``at``.
* ``FailingBatch(family, size, at)``: a batch of ``size`` runs submitted at ``at``, every one of which
  ends FAILED.
* A ``faults.Fault`` with ``start``/``end`` is a fault window; ``script`` simply adds it.
Events whose time has already passed apply immediately.
"""

from __future__ import annotations

from dataclasses import dataclass

from .faults import Fault
from .workload import FailureSpike


@dataclass
class KeyRevocation:
    key: str
    at: float
    until: float | None = None


@dataclass
class RunDeletion:
    run_id: str
    at: float


@dataclass
class DeleteRate:
    per_min: float
    at: float = 0.0


@dataclass
class RateChange:
    family: str
    per_min: float
    at: float


@dataclass
class FailingBatch:
    family: str
    size: int
    at: float


Scenario = FailureSpike | KeyRevocation | RunDeletion | DeleteRate | RateChange | FailingBatch | Fault

__all__ = [
    "DeleteRate",
    "FailingBatch",
    "FailureSpike",
    "KeyRevocation",
    "RateChange",
    "RunDeletion",
    "Scenario",
]
