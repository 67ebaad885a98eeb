"""The running exporter: syncs each (workspace, kind) on its schedule and reports how each sync went
(metrics, readiness, logs), keeps the state file and serves /metrics. `factory.build_exporter` builds
one from settings.

A failure is the workspace's own: a workspace whose key lost access (401/403) or that was deleted
(404) fails its syncs, logs it once and shows `extend_up` 0 under its label; the others go on.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

from . import fatal
from .api.client import ApiError, Cancelled
from .config import ConfigError, Settings, parse_listen_address
from .logs import RepeatThrottle
from .schedule import Schedule
from .web.server import Limits, MetricsServer

if TYPE_CHECKING:
    from .api.client import ApiClient
    from .engine.kind_state import KindSnapshot, KindState
    from .metrics.collector import Exposition, RunsCollector
    from .metrics.telemetry import Telemetry
    from .statefile.store import StateStore
    from .sync import KindSyncer, SyncReport
    from .web.health import Health
    from .web.webconfig import WebConfig
    from .webhooks.hints import CoalescedHints
    from .webhooks.listener import WebhookServer
    from .workspace import Workspace

log = logging.getLogger(__name__)

# A failure identical to one already logged (a revoked key fails every sync of every kind) is counted,
# and logged again with the count at most this often.
ERROR_REPEAT_LOG_SECONDS = 600.0
# After a sync, the state file is written once the last write's cost is this share of the time since it
# began (one workspace: at once; many: the copies of syncs ending close together share a write).
SAVE_SHARE = 0.05
# Failures that say the key cannot reach the workspace; logged as errors.
_ACCESS_REASONS = ("unauthorized", "forbidden", "payment_required")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g}m" if seconds >= 60 else f"{seconds:g}s"


class Exporter:
    def __init__(
        self,
        settings: Settings,
        workspaces: Sequence[Workspace],
        *,
        telemetry: Telemetry,
        runs: RunsCollector,
        exposition: Exposition,
        health: Health,
        store: StateStore | None,
        stop_event: threading.Event,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.workspaces = tuple(workspaces)
        self.kinds = tuple(dict.fromkeys(kind for ws in self.workspaces for kind in ws.kinds))
        self.telemetry = telemetry
        self.runs = runs
        self.exposition = exposition
        self.health = health
        self.store = store
        self.stop_event = stop_event
        self._save_lock = threading.Lock()
        self._save_pending = False  # a sync ended since the last write, which was too recent to repeat
        self._save_due = -float("inf")  # time.monotonic() from which a write is worth its cost again
        self._schedule = Schedule(settings.poll_interval_seconds, self.refresh_exposition)
        self._server: MetricsServer | None = None
        self.web: WebConfig | None = None
        self._webhooks: WebhookServer | None = None
        self._hints: CoalescedHints | None = None
        self._error_log = RepeatThrottle(ERROR_REPEAT_LOG_SECONDS, clock=clock)

    # The one workspace, and its parts (tests and benchmarks of one workspace reach them this way).

    @property
    def workspace(self) -> Workspace:
        (only,) = self.workspaces
        return only

    @property
    def states(self) -> dict[str, KindState]:
        return self.workspace.states

    @property
    def syncers(self) -> dict[str, KindSyncer]:
        return self.workspace.syncers

    @property
    def client(self) -> ApiClient:
        return self.workspace.client

    def refresh_exposition(self) -> None:
        """The periodic re-assembly; also follows a rotated key file into the workspace label, and
        writes a state file save that waited, and shows how long the syncs now running have taken."""
        for ws in self.workspaces:
            self.runs.relabel(ws.section, ws.identity())
        self.show_running_syncs()
        self.exposition.refresh()
        if self._save_pending:
            self.save_state()

    def show_running_syncs(self) -> None:
        for ws in self.workspaces:
            for kind in ws.kinds:
                ws.telemetry.sync_running.labels(kind).set(ws.running_for(kind))

    def watch_batch(self, kind: str, batch_id: str) -> None:
        """Track a batch a webhook named (webhooks/hints.py), in every workspace: read from the API at
        the next sync that reads it; never counted from the event itself."""
        for ws in self.workspaces:
            ws.watch_batch(kind, batch_id)

    # --- one sync ------------------------------------------------------------------------------------

    def sync_kind(self, kind: str, workspace: Workspace | None = None) -> bool:
        """Sync one kind of a workspace (the one, unless given); never raises. Returns whether it
        succeeded."""
        ws = workspace or self.workspace
        if self.stop_event.is_set():
            return False
        started = time.perf_counter()
        name = ws.name(kind)
        # The actual interval between this kind's syncs: configured, unless the budget or slow syncs
        # hold them back (the scheduler then skips a start while the previous sync runs).
        interval = ws.started(kind)
        if interval is not None:
            ws.telemetry.sync_interval.labels(kind).set(interval)
        ws.telemetry.sync_triggers.labels(kind, "webhook" if ws.take_hint(kind) else "schedule").inc()
        failure: tuple[ApiError, str] | None = None
        try:
            report, snapshot = ws.sync(kind)
        except Cancelled:
            log.info("%s: sync abandoned (shutting down)", name)
            return False
        except MemoryError:
            fatal.out_of_memory(f"the {name} sync")
            raise
        except ApiError as exc:
            failure = exc, str(exc)
        except Exception as exc:  # a bug must not stop the other kinds or the server
            log.exception("%s: sync crashed", name)
            failure = ApiError("bad_response", type(exc).__name__), type(exc).__name__
        finally:
            ws.telemetry.sync_duration.labels(kind).observe(time.perf_counter() - started)
        if failure is not None:
            self._failed(ws, kind, *failure)
            return False
        self._succeeded(ws, kind, report, snapshot)
        return True

    def sync_now(self, kind: str, workspace: str | None = None) -> bool:
        """Pull the kind's next scheduled sync forward (a webhook's hint), in `workspace` (its ID or
        label) or, when None, in every workspace (a delivery does not say which workspace it came
        from); bursts coalesce into one sync per workspace, counted as triggered by a webhook, inside
        the shared request budget. False when nothing is scheduled (before start_scheduler, while
        stopping, an unknown workspace)."""
        if self.stop_event.is_set():
            return False
        pulled = False
        for ws in self.workspaces:
            if kind not in ws.states or workspace not in (None, ws.identity()):
                continue
            ws.hint(kind)
            if self._schedule.run_soon(ws.name(kind)):
                pulled = True
            else:
                ws.take_hint(kind)
        return pulled

    def hints_pending(self) -> bool:
        """A webhook's ask for a sync is booked or waits for its sync to start."""
        booked = self._hints is not None and not self._hints.idle()
        return booked or any(ws.hinted() for ws in self.workspaces)

    def _succeeded(self, ws: Workspace, kind: str, report: SyncReport, snapshot: KindSnapshot) -> None:
        name = ws.name(kind)
        self.runs.update(ws.section, ws.identity(), snapshot)
        ws.telemetry.sync_running.labels(kind).set(0)
        ws.telemetry.up.labels(kind).set(1)
        ws.telemetry.last_success.labels(kind).set(ws.states[kind].last_success or 0.0)
        ws.telemetry.syncs.labels(kind, "success").inc()
        self.health.success(name)
        failures, first = ws.succeeded(kind)
        if failures:
            log.info("%s: sync succeeded again after %d failed sync(s)", name, failures)
        log.log(
            logging.INFO if first else logging.DEBUG,
            "%s: %s in %.2fs, %d requests, %d runs seen, %d created, %d finished, %d active%s",
            name,
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
        if report.baseline:
            # Until a kind's baseline is in the file, a crash would start it over from a new one and the
            # runs finishing in between would never be counted: no waiting for the next write.
            self.save_state()
        else:
            self._save_after_sync()
        self._refresh_after_sync(ws)

    def _failed(self, ws: Workspace, kind: str, error: ApiError, message: str) -> None:
        reason, name = error.reason, ws.name(kind)
        lost_access = reason in _ACCESS_REASONS or (reason == "client_error" and error.status == 404)
        level = logging.ERROR if lost_access else logging.WARNING
        ws.failed(kind)
        # One cause on any endpoint is one failure: "/extract_runs: HTTP 401" ~ "/parse_runs: HTTP 401".
        cause = message.split(": ", 1)[1] if message.startswith("/") and ": " in message else message
        log_now, held_back = self._error_log.check((ws.section, reason, cause))
        if log_now:
            repeats = (
                f"{held_back} more identical failure(s) across kinds in the last"
                if held_back
                else "identical failures are logged again every"
            )
            scope = (
                "; only this workspace's syncs fail, the others go on"
                if lost_access and len(self.workspaces) > 1
                else ""
            )
            log.log(
                level,
                "%s: sync failed (%s): %s [%s %s%s]",
                name,
                reason,
                message,
                repeats,
                _minutes(self._error_log.interval),
                scope if held_back == 0 else "",
            )
        ws.telemetry.up.labels(kind).set(0)
        ws.telemetry.sync_running.labels(kind).set(0)
        ws.telemetry.syncs.labels(kind, "failure").inc()
        ws.telemetry.sync_errors.labels(kind, reason).inc()
        self.health.failure(name)
        self._refresh_after_sync(ws)

    def _refresh_after_sync(self, ws: Workspace) -> None:
        """/metrics shows the sync: now, or (when the last assembly was too recent to be worth its cost
        again) at the scheduler's next refresh, which syncs ending meanwhile share."""
        self.telemetry.changed(ws.section)
        due = self.exposition.due()
        if time.monotonic() >= due or not self._schedule.refresh_at(due):
            self.exposition.refresh()

    def save_state(self) -> None:
        """Write every workspace's last completed syncs to the state file, now."""
        if self.store is None:
            return
        with self._save_lock:
            self._save_pending = False
            started = time.monotonic()
            kinds = {ws.section: ws.persisted() for ws in self.workspaces}
            batches = {ws.section: b for ws in self.workspaces if (b := ws.persisted_batches()) is not None}
            if not self.store.save(kinds, batches):
                self.telemetry.state_write_failures.inc()
            self._save_due = started + (time.monotonic() - started) / SAVE_SHARE

    def _save_after_sync(self) -> None:
        """Save now, or, when the last write was too recent to be worth its cost again, at the next
        refresh (within seconds): any copy the file holds is a consistent point to continue from."""
        if time.monotonic() >= self._save_due:
            self.save_state()
        else:
            self._save_pending = True

    # --- life cycle ---------------------------------------------------------------------------------

    def load_state(self) -> None:
        """Lock the state file (StateFileError when it cannot be written or another exporter has it) and
        restore from it."""
        if self.store is not None:
            self.store.lock()
            self.store.load({ws.section: ws.states for ws in self.workspaces})
            for ws in self.workspaces:
                ws.restored(self.store.batches(ws.section))
        for ws in self.workspaces:
            for kind, state in ws.states.items():
                self.runs.update(ws.section, ws.identity(), state.snapshot())
                if state.last_success is not None:
                    # Alerts on staleness must see through a restart, not a fresh 0.
                    ws.telemetry.last_success.labels(kind).set(state.last_success)
        self.exposition.refresh()

    def start_server(self) -> MetricsServer:
        from .web.webconfig import load_web_config  # only when serving

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
            limits=self._http_limits(),
            rejected=self.telemetry.http_connections_rejected,
        )
        self._server.start()
        return self._server

    def _http_limits(self) -> Limits:
        """What one client may hold, as settings say (EXTEND_EXPORTER_HTTP_*), for both listeners."""
        settings = self.settings
        return Limits(
            header_timeout=settings.http_header_timeout_seconds,
            idle_timeout=settings.http_idle_timeout_seconds,
            tls_handshake_timeout=settings.http_tls_handshake_timeout_seconds,
            max_connections=settings.http_max_connections,
        )

    def start_webhook_listener(self, secrets: Callable[[], list[str]]) -> WebhookServer | None:
        """Serve POST /webhooks/extend when EXTEND_EXPORTER_WEBHOOK_LISTEN_ADDRESS is set (webhooks/)."""
        settings, metrics = self.settings, self.telemetry.webhooks
        if settings.webhook_listen_address is None or metrics is None:
            return None
        from .web.webconfig import load_web_config
        from .webhooks.hints import CoalescedHints
        from .webhooks.listener import WebhookServer
        from .webhooks.receiver import MAX_BODY_BYTES, Receiver

        web = None
        if settings.webhook_web_config_file is not None:
            setting = "EXTEND_EXPORTER_WEBHOOK_WEB_CONFIG_FILE (--webhook-web-config-file)"
            web = load_web_config(settings.webhook_web_config_file, setting)
            if web.users:
                raise ConfigError(
                    f"invalid setting {setting}: basic_auth_users is not supported on the webhook listener "
                    "(the signature authenticates deliveries); keep tls_server_config only"
                )
        host, port = parse_listen_address(settings.webhook_listen_address)
        metrics.last_accepted.set(time.time())  # the alert waits from here for the first delivery
        self._hints = CoalescedHints(self, min_gap=settings.webhook_min_sync_interval_seconds)
        receiver = Receiver(secrets, self._hints, metrics.count, metrics.last_accepted.set)
        self._webhooks = WebhookServer(
            host,
            port,
            receiver,
            limits=dataclasses.replace(
                self._http_limits(),
                max_body_bytes=MAX_BODY_BYTES,
                body_timeout=settings.webhook_body_timeout_seconds,
            ),
            wrap_socket=web.wrap_server if web else None,
            rejected=metrics.connections_rejected,
        )
        self._webhooks.start()
        return self._webhooks

    def start_scheduler(self) -> None:
        """One job per (workspace, kind), named by the kind while there is one workspace."""
        self._schedule.start(
            [
                (ws.name(kind), partial(self.sync_kind, kind, ws))
                for ws in self.workspaces
                for kind in ws.kinds
            ]
        )

    def stop(self, deadline_seconds: float = 10.0) -> bool:
        """Abandon in-flight syncs within the deadline, flush the state file, stop serving.

        Returns False when a sync was still stuck (e.g. in a request that does not answer) at the
        deadline: its thread cannot be interrupted, so the caller should exit without joining it.
        """
        self.stop_event.set()
        if self._webhooks is not None:
            self._webhooks.stop()
        if self._hints is not None:
            self._hints.close()
        for ws in self.workspaces:
            ws.client.abort()  # a request in flight ends now, not at its timeout
        stopped = self._schedule.shutdown(deadline_seconds)
        if not stopped:
            log.warning("a sync did not stop within %.0fs; exiting anyway", deadline_seconds)
        self.save_state()  # the state of the last completed syncs; never waits for one in flight
        if self.store is not None:
            self.store.unlock()
        if stopped:
            for ws in self.workspaces:
                ws.client.close()
        if self._server is not None:
            self._server.stop()
        return stopped
