"""When syncs run: one interval job per (workspace, kind), and the periodic exposition refresh.

A job runs at most once at a time and missed runs coalesce into one, so a slow sync or a tight
request budget stretches the interval (extend_sync_interval_seconds shows it) instead of piling up.
`run_soon` pulls a job forward (a webhook's hint, later): asks before a run starts are all answered by
that run; asks while it runs get one more run right after it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

from . import fatal

# Besides after every sync, /metrics is re-assembled on this period, so that the exporter's own request
# and retry counters and the oldest-active ages stay live while a sync spends minutes in Retry-After
# holds. Its cost is measured in bench/results.md ("refresh").
EXPOSITION_REFRESH_SECONDS = 5.0
FIRST_SYNC_STEP_SECONDS = 0.2
REFRESH_JOB = "refresh-exposition"


class Schedule:
    def __init__(self, interval: float, refresh: Callable[[], None]) -> None:
        self.interval = interval
        self._refresh = refresh
        self._scheduler: BackgroundScheduler | None = None
        self._wanted: set[str] = set()  # jobs asked to run soon since their last run started
        self._wanted_lock = threading.Lock()

    def start(self, jobs: Sequence[tuple[str, Callable[[], object]]]) -> None:
        """Start one interval job per (id, function); the first runs are staggered from now."""
        interval = self.interval
        scheduler = BackgroundScheduler(
            # The refresh has a thread of its own: when every kind's sync is stuck, it still runs.
            executors={
                "default": ThreadPoolExecutor(max_workers=len(jobs)),
                "refresh": ThreadPoolExecutor(max_workers=1),
            },
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC",
        )
        now = time.time()
        # Stagger first syncs a little so kinds do not all hit the API in the same instant: 0.2 s
        # apart, closer when many (workspace, kind) jobs must all start within half an interval.
        step = min(FIRST_SYNC_STEP_SECONDS, interval / 2 / max(1, len(jobs)))
        for i, (job_id, run) in enumerate(jobs):
            first = now + i * step
            scheduler.add_job(
                self._run,
                "interval",
                seconds=interval,
                jitter=min(interval * 0.1, 10.0),
                args=[job_id, run],
                id=job_id,
                next_run_time=datetime.fromtimestamp(first, UTC),
            )
        scheduler.add_job(
            self._refresh,
            "interval",
            seconds=EXPOSITION_REFRESH_SECONDS,
            id=REFRESH_JOB,
            executor="refresh",
        )
        scheduler.add_listener(_fatal_job_error, EVENT_JOB_ERROR)
        scheduler.add_listener(self._after_run, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        scheduler.start()
        self._scheduler = scheduler

    def run_soon(self, job_id: str) -> bool:
        """Run the job now rather than at its next time; False when it is not scheduled."""
        with self._wanted_lock:
            self._wanted.add(job_id)
        return self._pull_forward(job_id)

    def refresh_at(self, due: float) -> bool:
        """Have the periodic refresh run at `due` (time.monotonic()) unless it runs sooner anyway; False
        when nothing is scheduled."""
        scheduler = self._scheduler
        if scheduler is None:
            return False
        when = datetime.now(UTC) + timedelta(seconds=max(0.0, due - time.monotonic()))
        try:
            job = scheduler.get_job(REFRESH_JOB)
            if job is not None and job.next_run_time is not None and job.next_run_time <= when:
                return True
            scheduler.modify_job(REFRESH_JOB, next_run_time=when)
        except JobLookupError:
            return False
        return True

    def next_run(self, job_id: str) -> datetime | None:
        """When the job runs next (None when it is not scheduled)."""
        job = self._scheduler.get_job(job_id) if self._scheduler is not None else None
        return None if job is None else job.next_run_time

    def _run(self, job_id: str, run: Callable[[], object]) -> None:
        with self._wanted_lock:
            self._wanted.discard(job_id)  # this run answers every ask before it
        run()

    def _after_run(self, event: JobExecutionEvent) -> None:
        # Asked while it ran: the scheduler skipped that run (one instance at a time), so run it now.
        # Listeners see the run as ended, so this one is not skipped.
        with self._wanted_lock:
            again = event.job_id in self._wanted
        if again:
            self._pull_forward(event.job_id)

    def _pull_forward(self, job_id: str) -> bool:
        scheduler = self._scheduler
        if scheduler is None:
            return False
        try:
            scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))
        except JobLookupError:
            return False
        return True

    def shutdown(self, deadline_seconds: float) -> bool:
        """Stop scheduling and wait for running jobs; False when one still runs at the deadline."""
        scheduler = self._scheduler
        if scheduler is None:
            return True
        self._scheduler = None
        done = threading.Event()

        def _shutdown() -> None:
            scheduler.shutdown(wait=True)
            done.set()

        threading.Thread(target=_shutdown, daemon=True).start()
        return done.wait(deadline_seconds)


def _fatal_job_error(event: JobExecutionEvent) -> None:
    """APScheduler catches what a job raises; a MemoryError there (e.g. in the refresh) is fatal too."""
    if isinstance(event.exception, MemoryError):
        fatal.out_of_memory(f"job {event.job_id}")
