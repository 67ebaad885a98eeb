"""Builds an exporter from settings: the one place that reads settings into parts and wires them.

`run`, `demo`, `check` (its API client only), the docs generator, tests and benchmarks all build
through here, so a setting means the same thing everywhere.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, ProcessCollector

from .api.client import ApiClient, RetryPolicy
from .api.identity import workspace_identity
from .api.ratelimit import TokenBucket
from .app import Exporter
from .batches.book import BatchBook
from .batches.evaluations import Evaluations
from .batches.poller import BatchPoller
from .batches.reader import BatchReader
from .batches.tracker import BatchTracker
from .config import Settings
from .engine.kind_state import KindState, ResourceLabels
from .kinds import KINDS
from .metrics.batch_collector import BatchCollector
from .metrics.collector import Exposition, RunsCollector
from .metrics.telemetry import Telemetry
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
    """An exporter as `settings` say, polling the workspace `api_key` opens; nothing started yet."""
    kinds = settings.effective_kinds
    stop_event = threading.Event()
    registry = CollectorRegistry(auto_describe=False)
    telemetry = Telemetry(
        registry,
        kinds,
        settings.api_version,
        tuple(KINDS[k].path for k in kinds),
        workspace=workspace_identity(settings.workspace_id, api_key()),
        webhooks=settings.webhook_listen_address is not None,
    )
    # process_* (memory, CPU, open fds, start time) as every exporter has; Linux /proc only.
    ProcessCollector(registry=registry)
    runs = RunsCollector(
        per_resource=settings.per_resource_labels, clock=clock, usage_tags=bool(settings.usage_tags)
    )
    batch_registry = CollectorRegistry(auto_describe=False)
    exposition = Exposition(registry, runs, batch_registry)
    health = Health(kinds, settings.poll_interval_seconds)
    telemetry.budget_rate.set(settings.max_requests_per_second)
    telemetry.sync_configured_interval.set(settings.poll_interval_seconds)
    # One request budget for the whole process: Extend limits the organisation, not the workspace.
    bucket = TokenBucket(settings.max_requests_per_second, on_wait=telemetry.budget_wait.inc)
    client = build_api_client(
        settings,
        api_key,
        telemetry,
        bucket,
        stop=stop_event,
        max_hold=HOLD_BOUND_INTERVALS * settings.poll_interval_seconds,
    )
    store = _state_store(settings)
    workspace = build_workspace(
        settings,
        api_key,
        client,
        clock=clock,
        on_invalid_summary=lambda kind: telemetry.invalid_summaries.labels(kind).inc(),
        persist=store is not None,
    )
    tracker = workspace.batches
    if tracker is not None:
        batch_registry.register(BatchCollector(lambda: [tracker.snapshot()]))
    return Exporter(
        settings,
        (workspace,),
        telemetry=telemetry,
        runs=runs,
        exposition=exposition,
        health=health,
        store=store,
        stop_event=stop_event,
        clock=clock,
    )


def build_api_client(
    settings: Settings,
    api_key: Callable[[], str],
    telemetry: Telemetry,
    bucket: TokenBucket,
    *,
    stop: threading.Event | None = None,
    max_hold: float | None = None,
) -> ApiClient:
    """The Extend API client as `settings` say. `check` uses it as is; the exporter adds a stop event
    (shutdown cuts requests in flight) and a bound on Retry-After holds."""
    return ApiClient(
        settings.api_base_url,
        api_key,
        api_version=settings.api_version,
        workspace_id=settings.workspace_id,
        bucket=bucket,
        telemetry=telemetry,
        timeout=settings.request_timeout_seconds,
        retry=RetryPolicy(max_retries=settings.max_retries),
        stop=stop,
        max_response_bytes_per_run=settings.max_response_bytes_per_run,
        max_runs_per_listing=settings.max_runs_per_listing,
        max_retry_after=settings.max_retry_after_seconds,
        max_hold=max_hold,
    )


def build_check_client(settings: Settings, api_key: Callable[[], str]) -> ApiClient:
    """The client `check` sends its requests with: metrics on a registry of its own (check exports
    nothing), Retry-After holds waited out."""
    kinds = settings.effective_kinds
    telemetry = Telemetry(CollectorRegistry(), kinds, settings.api_version)
    return build_api_client(settings, api_key, telemetry, TokenBucket(settings.max_requests_per_second))


def build_workspace(
    settings: Settings,
    api_key: Callable[[], str],
    client: ApiClient,
    *,
    clock: Callable[[], float],
    on_invalid_summary: Callable[[str], None],
    persist: bool,
) -> Workspace:
    """The settings' workspace: a ledger and a syncer per kind, sharing `client`; `persist` when a
    state file takes copies of the ledgers."""
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
    tracker = build_batch_tracker(settings, client, clock=clock)
    syncers = {
        k: KindSyncer(
            state,
            client,
            sync_settings,
            clock=clock,
            on_invalid_summary=on_invalid_summary,
            observer=tracker.book,
        )
        for k, state in states.items()
    }
    return Workspace(
        settings.workspace_id,
        api_key,
        client,
        states,
        syncers,
        clock=clock,
        persist=persist,
        batches=tracker,
    )


def build_batch_tracker(settings: Settings, client: ApiClient, *, clock: Callable[[], float]) -> BatchTracker:
    """A workspace's batches (EXTEND_EXPORTER_BATCH_IDS watched from the start) and evaluation set runs."""
    kinds = settings.effective_kinds
    book = BatchBook(
        kinds,
        max_batches=settings.max_batches,
        retention_seconds=settings.batch_retention_seconds,
        clock=clock,
    )
    for batch_id in settings.batch_ids:
        book.watch(batch_id)
    evaluations = Evaluations(client, settings.evaluation_run_ids, max_fields=settings.evaluation_max_fields)
    return BatchTracker(book, BatchPoller(book, BatchReader(client, settings.page_size), kinds), evaluations)


def _state_store(settings: Settings) -> StateStore | None:
    if not settings.state_file:
        return None
    return StateStore(settings.state_file, base_url=settings.api_base_url, api_version=settings.api_version)
