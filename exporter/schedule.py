"""When syncs run: one interval job per (workspace, kind), and the periodic exposition refresh.

A job runs at most once at a time and missed runs coalesce into one, so a slow sync or a tight
request budget stretches the interval (extend_sync_interval_seconds shows it) instead of piling up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from . import fatal

# Besides after every sync, /metrics is re-assembled on this period, so that the exporter's own request
# and retry counters and the oldest-active ages stay live while a sync spends minutes in Retry-After
# holds. Its cost is measured in bench/results.md ("refresh").
EXPOSITION_REFRESH_SECONDS = 5.0


class Schedule:
    def __init__(self, interval: float, refresh: Callable[[], None]) -> None:
        self.interval = interval
        self._refresh = refresh
        self._scheduler: BackgroundScheduler | None = None

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
        for i, (job_id, run) in enumerate(jobs):
            # Stagger first syncs a little so kinds do not all hit the API in the same instant.
            first = now + min(i * 0.2, interval / 2)
            scheduler.add_job(
                run,
                "interval",
                seconds=interval,
                jitter=min(interval * 0.1, 10.0),
                id=job_id,
                next_run_time=datetime.fromtimestamp(first, UTC),
            )
        scheduler.add_job(
            self._refresh,
            "interval",
            seconds=EXPOSITION_REFRESH_SECONDS,
            id="refresh-exposition",
            executor="refresh",
        )
        scheduler.add_listener(_fatal_job_error, EVENT_JOB_ERROR)
        scheduler.start()
        self._scheduler = scheduler

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
