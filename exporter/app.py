"""Wires settings, API client, sync jobs, scheduler, state file and HTTP server together."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import CollectorRegistry, Counter

from .api import ApiClient, ApiError, Cancelled, RetryPolicy
from .apikey import ApiKeySource
from .collector import Exposition, RunsCollector
from .config import Settings, parse_listen_address
from .engine import KindState, ResourceLabels
from .health import Health
from .kinds import KINDS
from .ratelimit import TokenBucket
from .server import MetricsServer
from .state import StateStore
from .sync import KindSyncer, SyncSettings
from .telemetry import Telemetry

log = logging.getLogger(__name__)

# Besides after every sync, /metrics is re-assembled on this period, so that the exporter's own request
# and retry counters and the oldest-active ages stay live while a sync spends minutes in Retry-After
# holds. A refresh costs ~5 ms at 10k series (bench/results.md, "refresh").
EXPOSITION_REFRESH_SECONDS = 5.0


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
        self.telemetry = Telemetry(
            self.registry, self.kinds, settings.api_version, tuple(KINDS[k].path for k in self.kinds)
        )
        self.invalid_summaries = Counter(
            "extend_invalid_summaries",
            "Run summaries skipped because they lack id, status or timestamps.",
            ["kind"],
            registry=self.registry,
        )
        self.state_write_failures = Counter(
            "extend_exporter_state_write_failures",
            "Failed writes of the state file (counts then live only in memory).",
            registry=self.registry,
        )
        for kind in self.kinds:
            self.invalid_summaries.labels(kind)
        self.runs = RunsCollector(per_resource=settings.per_resource_labels, clock=clock)
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
        )
        resource_labels = ResourceLabels(
            enabled=settings.per_resource_labels,
            allow=frozenset(settings.per_resource_allow),
            max_values=settings.per_resource_max,
        )
        self.states = {k: KindState(KINDS[k], resource_labels) for k in self.kinds}
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
                on_invalid_summary=lambda kind: self.invalid_summaries.labels(kind).inc(),
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
        log.debug(
            "%s: synced in %.2fs, %d requests, %d runs seen, %d created, %d finished%s",
            kind,
            report.duration,
            report.requests,
            report.observed,
            report.result.created,
            report.result.finished,
            " (baseline)" if report.baseline else "",
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
        log.log(level, "%s: sync failed (%s): %s", kind, reason, message)
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
                self.state_write_failures.inc()

    # --- life cycle ---------------------------------------------------------------------------------

    def load_state(self) -> None:
        if self.store is not None:
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
        self._server = MetricsServer(
            host,
            port,
            self.exposition,
            self.health.problems,
            authorize=web.authorize if web else None,
            wrap_socket=web.wrap_server if web else None,
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
            self.exposition.refresh,
            "interval",
            seconds=EXPOSITION_REFRESH_SECONDS,
            id="refresh-exposition",
            executor="refresh",
        )
        scheduler.start()
        self._scheduler = scheduler

    def stop(self, deadline_seconds: float = 10.0) -> bool:
        """Abandon in-flight syncs within the deadline, flush the state file, stop serving.

        Returns False when a sync was still stuck (e.g. in a request that does not answer) at the
        deadline: its thread cannot be interrupted, so the caller should exit without joining it.
        """
        self.stop_event.set()
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
        if stopped:
            self.client.close()
        if self._server is not None:
            self._server.stop()
        return stopped
