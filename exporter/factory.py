"""Builds an exporter from settings: the one place that reads settings into parts and wires them.

`run`, `demo`, `check` (its API clients only), the docs generator, tests and benchmarks all build
through here, so a setting means the same thing everywhere.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, ProcessCollector

from .api.client import ApiClient, RetryPolicy
from .api.ratelimit import RequestBudget
from .api.session import Session
from .app import Exporter
from .batches.book import BatchBook
from .batches.evaluations import Evaluations
from .batches.poller import BatchPoller
from .batches.reader import BatchReader
from .batches.tracker import BatchTracker
from .batches.unknown import UnknownIds
from .config import Settings
from .engine.kind_state import KindState, ResourceLabels
from .kinds import KINDS
from .metrics.batch_collector import BatchCollector
from .metrics.collector import Exposition, RunsCollector
from .metrics.telemetry import Telemetry, WorkspaceTelemetry
from .statefile.store import StateStore
from .sync import KindSyncer, SyncSettings
from .web.health import Health
from .workspace import Workspace

# A sync never waits out a Retry-After hold longer than this many poll intervals: it fails at once
# (rate_limited), so extend_up is 0 for the hold instead of 1 (the hold itself is still respected).
HOLD_BOUND_INTERVALS = 2.0


def build_exporter(
    settings: Settings,
    api_key: Callable[[], str],
    *,
    clock: Callable[[], float] = time.time,
) -> Exporter:
    """An exporter as `settings` say, polling every workspace of `settings.workspaces` with the key
    `api_key` gives; nothing started yet."""
    kinds = settings.effective_kinds
    stop_event = threading.Event()
    webhooks = settings.webhook_listen_address is not None
    telemetry = Telemetry(_endpoints(settings), webhooks=webhooks)
    # process_* (memory, CPU, open fds, start time) as every exporter has; Linux /proc only.
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    runs = RunsCollector(
        per_resource=settings.per_resource_labels, clock=clock, usage_tags=bool(settings.usage_tags)
    )
    batch_registry = CollectorRegistry(auto_describe=False)
    exposition = Exposition(registry, runs, telemetry, batch_registry)
    named = len(settings.workspaces) > 1
    health = Health(poll_interval=settings.poll_interval_seconds, exposed_since=exposition.assembled_since)
    telemetry.budget_rate.set(settings.max_requests_per_second)
    telemetry.sync_configured_interval.set(settings.poll_interval_seconds)
    # One request budget and one HTTP session for the whole process: Extend limits the organisation,
    # not the workspace.
    budget = RequestBudget(settings.max_requests_per_second, on_wait=telemetry.budget_wait.inc)
    session = build_session(settings, telemetry, stop=stop_event)
    store = _state_store(settings)
    workspaces = []
    unknown_ids = UnknownIds(settings.workspaces)
    for workspace_id in settings.workspaces:
        ws_telemetry = WorkspaceTelemetry(
            kinds, settings.api_version, _endpoints(settings), webhooks=webhooks
        )
        client = build_api_client(
            settings,
            api_key,
            session,
            budget,
            ws_telemetry,
            workspace_id,
            max_hold=HOLD_BOUND_INTERVALS * settings.poll_interval_seconds,
        )
        workspace = build_workspace(
            settings,
            workspace_id,
            api_key,
            client,
            ws_telemetry,
            clock=clock,
            persist=store is not None,
            named=named,
            unknown_ids=unknown_ids,
        )
        telemetry.add_workspace(workspace.section, workspace.identity, ws_telemetry, workspace.busy)
        health.add(workspace.name(k) for k in kinds)
        workspaces.append(workspace)
    batch_registry.register(
        BatchCollector(
            lambda: [(ws.identity(), *ws.batches.snapshot()) for ws in workspaces if ws.batches is not None]
        )
    )
    return Exporter(
        settings,
        workspaces,
        telemetry=telemetry,
        runs=runs,
        exposition=exposition,
        health=health,
        store=store,
        stop_event=stop_event,
        clock=clock,
    )


def _endpoints(settings: Settings) -> tuple[str, ...]:
    return tuple(KINDS[k].path for k in settings.effective_kinds)


def build_session(
    settings: Settings, telemetry: Telemetry, *, stop: threading.Event | None = None
) -> Session:
    """The HTTP session every workspace's client sends through; `stop` cuts it at shutdown."""
    return Session(
        settings.api_base_url,
        telemetry,
        timeout=settings.request_timeout_seconds,
        stop=stop,
        max_response_bytes_per_run=settings.max_response_bytes_per_run,
        max_retry_after=settings.max_retry_after_seconds,
    )


def build_api_client(
    settings: Settings,
    api_key: Callable[[], str],
    session: Session,
    budget: RequestBudget,
    telemetry: WorkspaceTelemetry,
    workspace_id: str | None,
    *,
    max_hold: float | None = None,
) -> ApiClient:
    """One workspace's Extend API client as `settings` say. `check` uses it as is; the exporter adds a
    bound on Retry-After holds."""
    return ApiClient(
        session,
        api_key,
        api_version=settings.api_version,
        workspace_id=workspace_id,
        budget=budget,
        telemetry=telemetry,
        retry=RetryPolicy(max_retries=settings.max_retries),
        max_runs_per_listing=settings.max_runs_per_listing,
        max_hold=max_hold,
    )


def build_check_clients(settings: Settings, api_key: Callable[[], str]) -> list[tuple[str | None, ApiClient]]:
    """The clients `check` sends its requests with, one per workspace: metrics on a registry of its own
    (check exports nothing), Retry-After holds waited out."""
    telemetry = Telemetry(_endpoints(settings))
    session = build_session(settings, telemetry)
    budget = RequestBudget(settings.max_requests_per_second)
    return [
        (
            workspace_id,
            build_api_client(
                settings,
                api_key,
                session,
                budget,
                WorkspaceTelemetry(settings.effective_kinds, settings.api_version),
                workspace_id,
            ),
        )
        for workspace_id in settings.workspaces
    ]


def build_workspace(
    settings: Settings,
    workspace_id: str | None,
    api_key: Callable[[], str],
    client: ApiClient,
    telemetry: WorkspaceTelemetry,
    *,
    clock: Callable[[], float],
    persist: bool,
    named: bool = False,
    unknown_ids: UnknownIds | None = None,
) -> Workspace:
    """One workspace: a ledger and a syncer per kind, sharing its `client`; `persist` when a state file
    takes copies of the ledgers, `named` when logs and readiness must say which workspace."""
    resource_labels = ResourceLabels(
        enabled=settings.per_resource_labels,
        allow=frozenset(settings.per_resource_allow),
        max_values=settings.per_resource_max,
    )
    usage_tags = frozenset(settings.usage_tags)
    sync_settings = SyncSettings(
        page_size=settings.page_size,
        overlap_seconds=settings.sync_overlap_seconds,
        reconcile_interval_seconds=settings.reconcile_interval_seconds,
    )
    states = {k: KindState(KINDS[k], resource_labels, usage_tags) for k in settings.effective_kinds}
    tracker = build_batch_tracker(
        settings, client, clock=clock, workspace_id=workspace_id, unknown_ids=unknown_ids
    )

    def invalid_summary(kind: str) -> None:
        telemetry.invalid_summaries.labels(kind).inc()

    syncers = {
        k: KindSyncer(
            state,
            client,
            sync_settings,
            clock=clock,
            on_invalid_summary=invalid_summary,
            observer=tracker.book,
        )
        for k, state in states.items()
    }
    return Workspace(
        workspace_id,
        api_key,
        client,
        states,
        syncers,
        telemetry,
        clock=clock,
        persist=persist,
        named=named,
        batches=tracker,
    )


def build_batch_tracker(
    settings: Settings,
    client: ApiClient,
    *,
    clock: Callable[[], float],
    workspace_id: str | None = None,
    unknown_ids: UnknownIds | None = None,
) -> BatchTracker:
    """A workspace's batches (EXTEND_EXPORTER_BATCH_IDS watched from the start) and evaluation set runs;
    with several workspaces each follows the IDs, and those the workspace's API does not know are
    dropped at their first read (`unknown_ids`, shared by the workspaces, warns of those none knows)."""
    kinds = settings.effective_kinds
    book = BatchBook(
        kinds,
        max_batches=settings.max_batches,
        retention_seconds=settings.batch_retention_seconds,
        clock=clock,
    )
    for batch_id in settings.batch_ids:
        book.watch(batch_id)
    unknown = (unknown_ids or UnknownIds([workspace_id])).reporter(workspace_id)
    evaluations = Evaluations(
        client, settings.evaluation_run_ids, max_fields=settings.evaluation_max_fields, unknown=unknown
    )
    poller = BatchPoller(book, BatchReader(client, settings.page_size), kinds, unknown)
    return BatchTracker(book, poller, evaluations)


def _state_store(settings: Settings) -> StateStore | None:
    if not settings.state_file:
        return None
    return StateStore(settings.state_file, base_url=settings.api_base_url, api_version=settings.api_version)
