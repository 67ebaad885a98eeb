"""Schedule: one interval job per id; `run_soon` pulls one job forward, and asks while it runs coalesce
into one run right after it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from exporter.schedule import Schedule
from tests.exporter_process import wait_until

INTERVAL = 3600.0  # no run comes from the interval itself within a test


class Job:
    """Counts its runs; a run blocks while `gate` is clear."""

    def __init__(self) -> None:
        self.started = 0
        self.finished = 0
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self) -> None:
        self.started += 1
        self.gate.wait(30)
        self.finished += 1


@pytest.fixture
def jobs() -> Iterator[tuple[Schedule, Job, Job]]:
    a, b = Job(), Job()
    schedule = Schedule(INTERVAL, lambda: None)
    schedule.start([("a", a), ("b", b)])
    wait_until(lambda: a.finished == 1 and b.finished == 1, timeout=10, message="the first runs")
    yield schedule, a, b
    a.gate.set()
    b.gate.set()
    assert schedule.shutdown(10)


def _far(schedule: Schedule, job_id: str) -> bool:
    next_run = schedule.next_run(job_id)
    return next_run is not None and next_run > datetime.now(UTC) + timedelta(seconds=INTERVAL / 2)


def test_run_soon_runs_that_job_now_and_no_other(jobs: tuple[Schedule, Job, Job]) -> None:
    schedule, a, b = jobs
    assert _far(schedule, "a") and _far(schedule, "b")
    assert schedule.run_soon("a")
    wait_until(lambda: a.finished == 2, timeout=10, message="the run asked for")
    wait_until(lambda: _far(schedule, "a"), timeout=10, message="the next run an interval away")
    assert (a.started, b.started) == (2, 1)
    assert not schedule.run_soon("no-such-job")


def test_asks_while_a_job_runs_give_one_run_after_it(jobs: tuple[Schedule, Job, Job]) -> None:
    schedule, a, _ = jobs
    a.gate.clear()
    assert schedule.run_soon("a")
    wait_until(lambda: a.started == 2, timeout=10, message="run 2 to start")
    for _ in range(3):  # a burst of hints while run 2 is held
        assert schedule.run_soon("a")
    # The scheduler skips what was asked while the job runs (one instance at a time), and moves its
    # next run an interval on.
    wait_until(lambda: _far(schedule, "a"), timeout=10, message="the asked-for run to be skipped")
    assert a.started == 2
    a.gate.set()
    wait_until(lambda: a.finished == 3, timeout=10, message="one run after the held one")
    wait_until(lambda: _far(schedule, "a"), timeout=10, message="the next run an interval away")
    assert a.started == 3


def test_nothing_runs_soon_before_the_start_or_after_the_shutdown() -> None:
    schedule = Schedule(INTERVAL, lambda: None)
    assert not schedule.run_soon("a")
    schedule.start([("a", Job())])
    assert schedule.shutdown(10)
    assert not schedule.run_soon("a")
