"""The demo's workloads: a normal day, which keeps every shipped alert silent, and an incident, which
breaks one thing per alert so that each fires in turn (``extend-exporter demo --scenario ...``, also
``simulate --scenario ...``).

A normal day: a few hundred runs an hour across every kind, 1.5% failing (none for want of credits),
reviews done within minutes, nothing stuck. The incident starts ``INCIDENT_START`` seconds in (after an
exporter's first syncs) and lasts until the simulator stops; ``INCIDENT`` says what breaks and which
alerts that raises. The simulator only breaks the API; what an exporter must break itself (its state
file) the demo does (``exporter/demo.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from .config import SimConfig, WaitingBatch, WaitingRun
from .faults import Fault
from .scenarios import FailingBatch, FailureSpike, RateChange, Scenario

SCENARIOS = ("normal", "incident")
#: Virtual seconds after the start when the incident begins.
INCIDENT_START = 20.0
#: A request the simulator holds this long never ends in a demo (a hung API call).
HANG_SECONDS = 86_400.0


def normal_day(seed: int = 7) -> SimConfig:
    """Real clock (runs look as old as they are), a modest history, every kind busy, 10 QPS."""
    return SimConfig(
        seed=seed,
        epoch=datetime.now(UTC).replace(microsecond=0),
        history=20_000,
        rates={
            "workflow": 6.0,
            "extract": 12.0,
            "classify": 8.0,
            "split": 4.0,
            "parse": 12.0,
            "edit": 3.0,
            "verify": 4.0,
        },
        # Shorter than the defaults, so every kind shows finished runs within seconds of starting.
        durations={
            "workflow": 30.0,
            "extract": 12.0,
            "classify": 5.0,
            "split": 8.0,
            "parse": 6.0,
            "edit": 8.0,
            "verify": 10.0,
        },
        # About 2 FAILED runs of the busiest kind in 10 minutes: the FAILED-spike alert wants 10.
        failure_rate=0.015,
        failure_reasons_excluded=frozenset({"OUT_OF_CREDITS"}),
        cancel_rate=0.02,
        needs_review_rate=0.25,
        review_seconds=120.0,
        qps_limit=10.0,
        realtime=True,
        speed=1.0,
    )


@dataclass(frozen=True)
class Step:
    """One thing the incident breaks, and the alerts that follow from it."""

    what: str
    alerts: tuple[str, ...]


INCIDENT = (
    Step("edit runs: the API answers 402 Payment Required", ("ExtendOutOfCredits", "ExtendSyncFailing")),
    Step(
        "verify runs: 30 a minute, 80% of them FAILED",
        ("ExtendRunsFailedSpike", "ExtendRunsFailureRatioHigh"),
    ),
    Step("split runs: the API answers 401 (a revoked key)", ("ExtendApiUnauthorized", "ExtendSyncFailing")),
    Step("parse runs: the API answers 429 to every request", ("ExtendApiRateLimited", "ExtendSyncFailing")),
    Step("extract runs: every answer takes 9 s", ("ExtendSyncFallingBehind",)),
    Step(
        "classify runs: a request that never ends (with an exporter whose request timeout outlasts it)",
        ("ExtendSyncStale",),
    ),
    Step("a workflow run waiting for review for 5h", ("ExtendReviewBacklogTooOld",)),
    Step("a workflow run PROCESSING for 2h", ("ExtendRunsStuckProcessing",)),
    Step("a workflow batch of 3 runs: every one FAILED", ("ExtendBatchFailed",)),
    Step("a workflow batch of 5 runs queued PENDING for 1h, not moving", ("ExtendBatchStalled",)),
)


def incident(seed: int = 7) -> SimConfig:
    """The normal day, with the two runs and the batch the incident finds waiting (they exist before any
    sync)."""
    config = normal_day(seed)
    config.waiting_runs = (
        WaitingRun("workflow", "NEEDS_REVIEW", age_seconds=5 * 3600.0),
        WaitingRun("workflow", "PROCESSING", age_seconds=2 * 3600.0),
    )
    config.waiting_batches = (WaitingBatch("workflow", 5, age_seconds=3600.0),)
    return config


def incident_script(start: float = INCIDENT_START) -> list[Scenario]:
    """What breaks at `start` (virtual seconds since the simulator's start), for good."""
    return [
        Fault(kind="usage_blocked", rate=1.0, endpoints=frozenset({"/edit_runs"}), start=start),
        RateChange("verify", 30.0, at=start),
        FailureSpike("verify", start=start, end=float("inf"), failure_rate=0.8),
        Fault(kind="unauthorized", rate=1.0, endpoints=frozenset({"/split_runs"}), start=start),
        Fault(kind="rate_limit", rate=1.0, endpoints=frozenset({"/parse_runs"}), start=start, retry_after=1),
        Fault(kind="slow", rate=1.0, endpoints=frozenset({"/extract_runs"}), start=start, delay=9.0),
        Fault(
            kind="slow", rate=1.0, endpoints=frozenset({"/classify_runs"}), start=start, delay=HANG_SECONDS
        ),
        FailingBatch("workflow", 3, at=start),
    ]


def config_for(scenario: str, seed: int = 7) -> SimConfig:
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    return incident(seed) if scenario == "incident" else normal_day(seed)


def script_for(scenario: str) -> list[Scenario]:
    return incident_script() if scenario == "incident" else []
