"""SimConfig: every knob of the simulator, with defaults that give a small, lively, hostile world."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from .enums import FAMILIES

CursorMode = Literal["offset", "keyset", "snapshot"]
EndTokenStyle = Literal["null", "absent"]
Precision = Literal["s", "ms"]
ParseOrder = Literal["created_desc", "updated_desc", "created_asc"]

DEFAULT_EPOCH = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass(frozen=True)
class WaitingRun:
    """An active run already `age_seconds` old when the simulator starts, that never moves on its own (a
    workflow run waiting for review for hours, a run stuck in PROCESSING); `Simulator.finish_run` ends it."""

    family: str
    status: str
    age_seconds: float


@dataclass(frozen=True)
class WaitingBatch:
    """A batch of `size` runs created `age_seconds` before the simulator starts, every run still PENDING
    and never moving (a batch queue that stopped draining)."""

    family: str
    size: int
    age_seconds: float


def _default_keys() -> dict[str, dict[str, Any]]:
    return {"sk_sim_test": {"org_scoped": False}}


def _default_rates() -> dict[str, float]:
    return {
        "workflow": 6.0,
        "extract": 12.0,
        "classify": 6.0,
        "split": 3.0,
        "parse": 12.0,
        "edit": 2.0,
        "verify": 3.0,
    }


def _default_sources() -> dict[str, dict[str, float]]:
    proc = {
        "API": 50.0,
        "WORKFLOW_RUN": 25.0,
        "BATCH_PROCESSOR_RUN": 8.0,
        "STUDIO": 7.0,
        "PLAYGROUND": 5.0,
        "WORKFLOW_CONFIGURATION": 3.0,
        "ADMIN": 2.0,
    }
    return {
        "workflow": {},
        "extract": dict(proc),
        "classify": dict(proc),
        "split": dict(proc),
        "parse": {
            "API": 40.0,
            "WORKFLOW_RUN": 20.0,
            "DOCUMENT_PROCESSOR_RUN": 20.0,
            "BATCH_PARSER_RUN": 8.0,
            "STUDIO": 6.0,
            "EDIT_RUN": 4.0,
            "ADMIN": 2.0,
        },
        "edit": {"API": 70.0, "STUDIO": 25.0, "ADMIN": 5.0},
        "verify": {"API": 80.0, "STUDIO": 20.0},
    }


def _default_durations() -> dict[str, float]:
    """Median processing time in seconds per family (lognormal around it)."""
    return {
        "workflow": 90.0,
        "extract": 25.0,
        "classify": 8.0,
        "split": 15.0,
        "parse": 12.0,
        "edit": 20.0,
        "verify": 30.0,
    }


def _default_history_weights() -> dict[str, float]:
    return {
        "workflow": 15.0,
        "extract": 30.0,
        "classify": 15.0,
        "split": 8.0,
        "parse": 28.0,
        "edit": 4.0,
        "verify": 0.0,  # added later: opt-in, so the other families keep the history they had
    }


@dataclass
class WebhookFaults:
    """What can go wrong with a delivery; each a probability per event (0 to 1)."""

    drop: float = 0.0  # never sent
    duplicate: float = 0.0  # sent twice (same eventId)
    delay: float = 0.0  # sent `delay_seconds` late
    delay_seconds: float = 5.0
    reorder: float = 0.0  # held back and sent after the next event
    bad_signature: float = 0.0  # the first attempt is signed with a wrong secret (answered 401)


@dataclass
class WebhookConfig:
    """Where the simulated workspace's webhook endpoint delivers to, as Extend would (webhooks.py)."""

    url: str
    secret: str
    api_version: str = "2026-02-09"  # the endpoint's pinned version: its event names and payloads
    faults: WebhookFaults = field(default_factory=WebhookFaults)
    # Attempts after a non-2xx answer or no answer, `retry_seconds` apart, doubling (0: no redelivery).
    redeliveries: int = 3
    retry_seconds: float = 1.0
    timeout_seconds: float = 10.0


@dataclass
class SimConfig:
    """Simulator configuration.  Times are seconds; rates are runs per minute of *virtual* time."""

    seed: int = 0
    epoch: datetime = DEFAULT_EPOCH
    # -- auth --------------------------------------------------------------------------------------
    keys: dict[str, dict[str, Any]] = field(default_factory=_default_keys)
    """key -> {"org_scoped": bool}.  Org-scoped keys must send x-extend-workspace-id == workspace_id."""
    api_key: str | None = None
    """The default valid key (``sim.api_key``); first key of ``keys`` when None."""
    workspace_id: str = "ws_sim_0001"
    # -- listing semantics -------------------------------------------------------------------------
    cursor_mode: CursorMode = "offset"
    end_token_style: EndTokenStyle | None = None
    """None: "absent" for 2026-02-09 ``data`` envelopes and "null" for legacy envelopes."""
    timestamp_precision: Precision = "s"
    parse_order: ParseOrder = "created_desc"
    snapshot_limit: int = 64
    """Snapshot-mode cursors kept (LRU); an evicted snapshot's token answers 400."""
    # -- server-side rate limit --------------------------------------------------------------------
    qps_limit: float | None = 10.0
    qps_burst: float | None = None
    """Token-bucket capacity; defaults to qps_limit."""
    # -- workload ----------------------------------------------------------------------------------
    history: int | dict[str, int] = 2000
    """Finished runs before the epoch: a total (split by history_weights) or a per-family dict."""
    history_days: float = 30.0
    stuck_runs: int | dict[str, int] = 0
    """Long-stuck active runs per family (an int: that many in every family), added to the history: created
    ``stuck_days`` ago and left PENDING or PROCESSING for good (parse: half are batch runs left PENDING for
    ``stuck_batch_hours``). They never move on their own; ``Simulator.finish_run`` ends one."""
    stuck_days: tuple[float, float] = (21.0, 28.0)
    stuck_batch_hours: tuple[float, float] = (2.0, 8.0)
    history_weights: dict[str, float] = field(default_factory=_default_history_weights)
    rates: dict[str, float] = field(default_factory=_default_rates)
    sources: dict[str, dict[str, float]] = field(default_factory=_default_sources)
    durations: dict[str, float] = field(default_factory=_default_durations)
    duration_sigma: float = 0.6
    queue_seconds: float = 4.0
    """Median PENDING time for runs that start PENDING."""
    failure_rate: float | dict[str, float] = 0.05
    failure_reasons_excluded: frozenset[str] = frozenset()
    """failureReason values FAILED runs never get (the demo's normal day: no OUT_OF_CREDITS)."""
    waiting_runs: tuple[WaitingRun, ...] = ()
    """Active runs already old at the start, added after the history (see ``WaitingRun``)."""
    waiting_batches: tuple[WaitingBatch, ...] = ()
    """Batches already old at the start whose runs all wait (see ``WaitingBatch``)."""
    cancel_rate: float | dict[str, float] = 0.02
    """CANCELLED outcome rate (workflow, extract, classify, split, verify; parse/edit runs are never
    cancelled)."""
    needs_review_rate: float = 0.15
    """Fraction of successful workflow runs that stop in NEEDS_REVIEW first."""
    reject_rate: float = 0.25
    """Fraction of reviewed workflow runs that end REJECTED."""
    review_seconds: float = 600.0
    """Median time a workflow run spends in NEEDS_REVIEW."""
    cancelling_seconds: float = 5.0
    batch_fraction: float = 0.05
    """Fraction of workflow arrivals that are batches (processor/parse batches follow BATCH_* sources)."""
    batch_size: tuple[int, int] = (2, 8)
    shared_file_names: float = 0.0
    """Fraction of runs whose file is named like many others (``scan.pdf``, ``invoice.pdf``,
    ``document.pdf``), as real uploads are; the rest have names of their own."""
    evaluation_fields: int = 6
    """Fields (extract) or classes (classify) in an evaluation set run's metrics."""
    touch_rate: float = 0.1
    """Fraction of PROCESSED extract/classify/split runs later marked ``reviewed`` (updatedAt bump, no status
    change)."""
    touch_seconds: float = 300.0
    delete_rate_per_min: float = 0.0
    """Random deletions of existing runs per virtual minute."""
    processors_per_family: int = 3
    workflows: int = 3
    gc_freeze: bool | None = None
    """``gc.freeze()`` after building the history so full GC passes skip the (long-lived) history objects and
    do not stall page requests.  None: only when the history has >= 50,000 runs.  Process-wide side effect."""
    # -- clock -------------------------------------------------------------------------------------
    realtime: bool = False
    speed: float = 1.0
    tick_seconds: float = 0.1
    # -- webhooks ----------------------------------------------------------------------------------
    webhooks: WebhookConfig | None = None
    """Signed deliveries of every run end (and batch end) to a webhook endpoint; None: no webhooks."""

    def default_key(self) -> str:
        if self.api_key is not None:
            return self.api_key
        return next(iter(self.keys))

    def history_counts(self) -> dict[str, int]:
        if isinstance(self.history, dict):
            return {f: int(self.history.get(f, 0)) for f in FAMILIES}
        total = int(self.history)
        weights = {f: self.history_weights.get(f, 0.0) for f in FAMILIES}
        wsum = sum(weights.values()) or 1.0
        counts: dict[str, int] = {f: int(total * w / wsum) for f, w in weights.items()}
        rest = total - sum(counts.values())
        for f in FAMILIES:  # hand out the rounding remainder deterministically
            if rest <= 0:
                break
            if weights[f] > 0:
                counts[f] += 1
                rest -= 1
        return counts

    def stuck_counts(self) -> dict[str, int]:
        if isinstance(self.stuck_runs, dict):
            return {f: int(self.stuck_runs.get(f, 0)) for f in FAMILIES}
        return dict.fromkeys(FAMILIES, int(self.stuck_runs))

    def rate_for(self, value: float | dict[str, float], family: str) -> float:
        if isinstance(value, dict):
            return float(value.get(family, 0.0))
        return float(value)

    def replace(self, **changes: Any) -> SimConfig:
        return dataclasses.replace(self, **changes)
