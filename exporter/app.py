"""Wires settings, API client, sync jobs, scheduler, state file and HTTP server together."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import CollectorRegistry, ProcessCollector

from . import fatal
from .api import ApiClient, ApiError, Cancelled, RetryPolicy
from .apikey import ApiKeySource
from .collector import Exposition, RunsCollector
from .config import Settings, parse_listen_address
from .engine import KindState, ResourceLabels
from .health import Health
from .identity import workspace_identity
from .kinds import KINDS
from .logs import RepeatThrottle
from .ratelimit import TokenBucket
from .server import Limits, MetricsServer
from .state import StateStore
from .sync import KindSyncer, SyncSettings
from .telemetry import Telemetry

if TYPE_CHECKING:
    from .webconfig import WebConfig

log = logging.getLogger(__name__)

# Besides after every sync, /metrics is re-assembled on this period, so that the exporter's own request
# and retry counters and the oldest-active ages stay live while a sync spends minutes in Retry-After
# holds. A refresh costs ~5 ms at 10k series (bench/results.md, "refresh").
EXPOSITION_REFRESH_SECONDS = 5.0
# A sync never waits out a Retry-After hold longer than this many poll intervals: it fails at once
# (rate_limited), so extend_up is 0 for the hold instead of 1 (the hold itself is still respected).
HOLD_BOUND_INTERVALS = 2.0
# A failure identical to one already logged (a revoked key fails every sync of every kind) is counted,
# and logged again with the count at most this often.
ERROR_REPEAT_LOG_SECONDS = 600.0


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g}m" if seconds >= 60 else f"{seconds:g}s"


class Exporter:
    def __init__(
        self,
        settings: Settings,
        api_key: ApiKeySource,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.kinds = settings.effective_kinds
        self._clock = clock
        self.stop_event = threading.Event()
        self.registry = CollectorRegistry(auto_describe=False)
        self._api_key = api_key
        self.telemetry = Telemetry(
            self.registry,
            self.kinds,
            settings.api_version,
            tuple(KINDS[k].path for k in self.kinds),
            workspace=self._workspace_identity(),
        )
        # process_* (memory, CPU, open fds, start time) as every exporter has; Linux /proc only.
        ProcessCollector(registry=self.registry)
        self.runs = RunsCollector(
            per_resource=settings.per_resource_labels, clock=clock, usage_tags=bool(settings.usage_tags)
        )
        self.exposition = Exposition(self.registry, self.runs)
        self.health = Health(self.kinds, settings.poll_interval_seconds)
        self.telemetry.budget_rate.set(settings.max_requests_per_second)
        self.telemetry.sync_configured_interval.set(settings.poll_interval_seconds)
        self._sync_started: dict[str, float] = {}  # time.monotonic() at the last sync start, per kind
        self.client = ApiClient(
            settings.api_base_url,
            api_key,
            api_version=settings.api_version,
            workspace_id=settings.workspace_id,
            bucket=TokenBucket(settings.max_requests_per_second, on_wait=self.telemetry.budget_wait.inc),
            telemetry=self.telemetry,
            timeout=settings.request_timeout_seconds,
            retry=RetryPolicy(max_retries=settings.max_retries),
            stop=self.stop_event,
            max_response_bytes_per_run=settings.max_response_bytes_per_run,
            max_runs_per_listing=settings.max_runs_per_listing,
            max_retry_after=settings.max_retry_after_seconds,
            max_hold=HOLD_BOUND_INTERVALS * settings.poll_interval_seconds,
        )
        resource_labels = ResourceLabels(
            enabled=settings.per_resource_labels,
            allow=frozenset(settings.per_resource_allow),
            max_values=settings.per_resource_max,
        )
        usage_tags = frozenset(settings.usage_tags)
        self.states = {k: KindState(KINDS[k], resource_labels, usage_tags) for k in self.kinds}
        self._locks = {k: threading.Lock() for k in self.kinds}
        sync_settings = SyncSettings(
            page_size=settings.page_size,
            overlap_seconds=settings.sync_overlap_seconds,
            reconcile_interval_seconds=settings.reconcile_interval_seconds,
        )
        self.syncers = {
            k: KindSyncer(
                self.states[k],
                self.client,
                sync_settings,
                clock=clock,
                on_invalid_summary=lambda kind: self.telemetry.invalid_summaries.labels(kind).inc(),
            )
            for k in self.kinds
        }
        self.store = (
            StateStore(settings.state_file, base_url=settings.api_base_url, api_version=settings.api_version)
            if settings.state_file
            else None
        )
        self._save_lock = threading.Lock()
        # What the state file gets for each kind: a copy taken when its last sync completed (or at load),
        # so flushing never waits for a sync in flight (a hung request must not block shutdown).
        self._persisted: dict[str, dict[str, Any]] = {}
        self._scheduler: BackgroundScheduler | None = None
        self._server: MetricsServer | None = None
        self.web: WebConfig | None = None
        self._error_log = RepeatThrottle(ERROR_REPEAT_LOG_SECONDS, clock=clock)
        self._failures_in_a_row = dict.fromkeys(self.kinds, 0)
        self._synced: set[str] = set()  # kinds with a successful sync in this process

    def _workspace_identity(self) -> str:
        return workspace_identity(self.settings.workspace_id, self._api_key())

    def refresh_exposition(self) -> None:
        """The periodic re-assembly; also follows a rotated key file into the workspace label."""
        self.telemetry.set_workspace(self._workspace_identity())
        self.exposition.refresh()

    # --- one sync ------------------------------------------------------------------------------------

    def sync_kind(self, kind: str) -> bool:
        """Sync one kind; never raises. Returns whether it succeeded."""
        if self.stop_event.is_set():
            return False
        started = time.perf_counter()
        self._note_start(kind)
        try:
            with self._locks[kind]:
                report = self.syncers[kind].sync()
                self.states[kind].last_success = self._clock()
                snapshot = self.states[kind].snapshot()
                if self.store is not None:
                    self._persisted[kind] = self.states[kind].to_dict()
        except Cancelled:
            log.info("%s: sync abandoned (shutting down)", kind)
            return False
        except MemoryError:
            fatal.out_of_memory(f"the {kind} sync")
            raise
        except ApiError as exc:
            self._failed(kind, exc.reason, str(exc))
            return False
        except Exception as exc:  # a bug must not stop the other kinds or the server
            log.exception("%s: sync crashed", kind)
            self._failed(kind, "bad_response", type(exc).__name__)
            return False
        finally:
            self.telemetry.sync_duration.labels(kind).observe(time.perf_counter() - started)
        self.runs.update(snapshot)
        self.telemetry.up.labels(kind).set(1)
        self.telemetry.last_success.labels(kind).set(self.states[kind].last_success or 0.0)
        self.telemetry.syncs.labels(kind, "success").inc()
        self.health.success(kind)
        failures, self._failures_in_a_row[kind] = self._failures_in_a_row[kind], 0
        if failures:
            log.info("%s: sync succeeded again after %d failed sync(s)", kind, failures)
        first = kind not in self._synced
        self._synced.add(kind)
        log.log(
            logging.INFO if first else logging.DEBUG,
            "%s: %s in %.2fs, %d requests, %d runs seen, %d created, %d finished, %d active%s",
            kind,
            "first sync done" if first else "synced",
            report.duration,
            report.requests,
            report.observed,
            report.result.created,
            report.result.finished,
            sum(snapshot.active.values()),
            (" (baseline: runs that finished before now are not counted)" if report.baseline else "")
            if first
            else "",
        )
        self.save_state()
        self.exposition.refresh()
        return True

    def _note_start(self, kind: str) -> None:
        """The actual interval between this kind's syncs: configured, unless the budget or slow
        syncs hold them back (the scheduler then skips a start while the previous sync runs)."""
        now = time.monotonic()
        previous = self._sync_started.get(kind)
        self._sync_started[kind] = now
        if previous is not None:
            self.telemetry.sync_interval.labels(kind).set(now - previous)

    def _failed(self, kind: str, reason: str, message: str) -> None:
        level = (
            logging.ERROR if reason in ("unauthorized", "forbidden", "payment_required") else logging.WARNING
        )
        self._failures_in_a_row[kind] += 1
        # One cause on any endpoint is one failure: "/extract_runs: HTTP 401" ~ "/parse_runs: HTTP 401".
        cause = message.split(": ", 1)[1] if message.startswith("/") and ": " in message else message
        log_now, held_back = self._error_log.check((reason, cause))
        if log_now and held_back:
            log.log(
                level,
                "%s: sync failed (%s): %s [%d more identical failure(s) across kinds in the last %s]",
                kind,
                reason,
                message,
                held_back,
                _minutes(self._error_log.interval),
            )
        elif log_now:
            log.log(
                level,
                "%s: sync failed (%s): %s [identical failures are logged again every %s, with a count]",
                kind,
                reason,
                message,
                _minutes(self._error_log.interval),
            )
        self.telemetry.up.labels(kind).set(0)
        self.telemetry.syncs.labels(kind, "failure").inc()
        self.telemetry.sync_errors.labels(kind, reason).inc()
        self.health.failure(kind)
        self.exposition.refresh()

    def save_state(self) -> None:
        if self.store is None:
            return
        with self._save_lock:
            kinds = dict(self._persisted)  # consistent copies taken between two syncs
            if not self.store.save(kinds):
                self.telemetry.state_write_failures.inc()

    # --- life cycle ---------------------------------------------------------------------------------

    def load_state(self) -> None:
        """Lock the state file (StateLockedError when another exporter has it) and restore from it."""
        if self.store is not None:
            self.store.lock()
            self.store.load(self.states)
            for kind, state in self.states.items():
                with self._locks[kind]:
                    self._persisted[kind] = state.to_dict()
        for kind, state in self.states.items():
            self.runs.update(state.snapshot())
            if state.last_success is not None:
                # Alerts on staleness must see through a restart, not a fresh 0.
                self.telemetry.last_success.labels(kind).set(state.last_success)
        self.exposition.refresh()

    def start_server(self) -> MetricsServer:
        from .webconfig import load_web_config  # only when serving

        host, port = parse_listen_address(self.settings.listen_address)
        web = load_web_config(self.settings.web_config_file) if self.settings.web_config_file else None
        self.web = web
        self._server = MetricsServer(
            host,
            port,
            self.exposition,
            self.health.problems,
            authorize=web.authorize if web else None,
            wrap_socket=web.wrap_server if web else None,
            limits=Limits(
                header_timeout=self.settings.http_header_timeout_seconds,
                idle_timeout=self.settings.http_idle_timeout_seconds,
                tls_handshake_timeout=self.settings.http_tls_handshake_timeout_seconds,
                max_connections=self.settings.http_max_connections,
            ),
            rejected=self.telemetry.http_connections_rejected,
        )
        self._server.start()
        return self._server

    def start_scheduler(self) -> None:
        interval = self.settings.poll_interval_seconds
        scheduler = BackgroundScheduler(
            # The refresh has a thread of its own: when every kind's sync is stuck, it still runs.
            executors={
                "default": ThreadPoolExecutor(max_workers=len(self.kinds)),
                "refresh": ThreadPoolExecutor(max_workers=1),
            },
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC",
        )
        now = time.time()
        for i, kind in enumerate(self.kinds):
            # Stagger first syncs a little so kinds do not all hit the API in the same instant.
            first = now + min(i * 0.2, interval / 2)
            scheduler.add_job(
                self.sync_kind,
                "interval",
                seconds=interval,
                jitter=min(interval * 0.1, 10.0),
                args=[kind],
                id=kind,
                next_run_time=datetime.fromtimestamp(first, UTC),
            )
        scheduler.add_job(
            self.refresh_exposition,
            "interval",
            seconds=EXPOSITION_REFRESH_SECONDS,
            id="refresh-exposition",
            executor="refresh",
        )
        scheduler.add_listener(_fatal_job_error, EVENT_JOB_ERROR)
        scheduler.start()
        self._scheduler = scheduler

    def stop(self, deadline_seconds: float = 10.0) -> bool:
        """Abandon in-flight syncs within the deadline, flush the state file, stop serving.

        Returns False when a sync was still stuck (e.g. in a request that does not answer) at the
        deadline: its thread cannot be interrupted, so the caller should exit without joining it.
        """
        self.stop_event.set()
        self.client.abort()  # a request in flight ends now, not at its timeout
        stopped = True
        if self._scheduler is not None:
            done = threading.Event()

            def _shutdown() -> None:
                assert self._scheduler is not None
                self._scheduler.shutdown(wait=True)
                done.set()

            threading.Thread(target=_shutdown, daemon=True).start()
            if not done.wait(deadline_seconds):
                log.warning("a sync did not stop within %.0fs; exiting anyway", deadline_seconds)
                stopped = False
        self.save_state()  # the state of the last completed syncs; never waits for one in flight
        if self.store is not None:
            self.store.unlock()
        if stopped:
            self.client.close()
        if self._server is not None:
            self._server.stop()
        return stopped


def _fatal_job_error(event: JobExecutionEvent) -> None:
    """APScheduler catches what a job raises; a MemoryError there (e.g. in the refresh) is fatal too."""
    if isinstance(event.exception, MemoryError):
        fatal.out_of_memory(f"job {event.job_id}")
