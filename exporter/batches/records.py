"""What the batch endpoints answer, reduced to what the batch families need, and the batch kinds.

`GET /batch_runs/{id}` answers a bare BatchRun `{object, id, status, runCount, createdAt}`; the legacy
`GET /batch_processor_runs/{id}` `{success, batchProcessorRun: {status, runCount, metrics {numFiles,
numPages}, source, createdAt, updatedAt, ...}}` (EXTEND_API.md §2.9). Workflow batches have no endpoint.
Where a document is unsure (an envelope or not, a field missing), both shapes are read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..sync.summaries import SummaryError, parse_time

# The `kind` label of a batch: the kind of its runs; processor_run for a legacy batch processor run.
BATCH_KINDS = ("parse_run", "extract_run", "classify_run", "split_run", "workflow_run", "processor_run")
# Batch kinds `GET /batch_runs/{id}` answers for; probed in this order when an ID says nothing more.
BATCH_RUN_KINDS = ("parse_run", "extract_run", "classify_run", "split_run")
BATCH_RUNS = "/batch_runs/{id}"
BATCH_PROCESSOR_RUNS = "/batch_processor_runs/{id}"
EVALUATION_SET_RUNS = "/evaluation_set_runs/{id}"
ENDPOINTS = (BATCH_RUNS, BATCH_PROCESSOR_RUNS, EVALUATION_SET_RUNS)

# A batch is active while PENDING or PROCESSING (and CANCELLING, which the SDK's polling helpers treat
# as not done for any run); every other status, documented or not, is where it ended.
ACTIVE_STATUSES = ("PENDING", "PROCESSING")
TERMINAL_STATUSES = ("PROCESSED", "FAILED", "CANCELLED")
NOT_DONE = frozenset({*ACTIVE_STATUSES, "CANCELLING"})
LEGACY_SOURCES = ("EVAL_SET", "PLAYGROUND", "STUDIO")


def endpoint_of(kind: str) -> str | None:
    """Where a batch of `kind` is read; None for workflow batches (no endpoint)."""
    if kind == "processor_run":
        return BATCH_PROCESSOR_RUNS
    return BATCH_RUNS if kind in BATCH_RUN_KINDS else None


@dataclass(frozen=True)
class BatchReading:
    """A batch as its endpoint describes it."""

    status: str
    run_count: int | None = None
    created_at: float | None = None
    updated_at: float | None = None
    source: str | None = None  # legacy: EVAL_SET, PLAYGROUND, STUDIO
    files: float | None = None  # legacy metrics.numFiles
    pages: float | None = None  # legacy metrics.numPages


def read_batch(body: Mapping[str, Any]) -> BatchReading:
    """A BatchRun or a legacy BatchProcessorRun (in its `batchProcessorRun` envelope or bare)."""
    inner = body.get("batchProcessorRun")
    obj: Mapping[str, Any] = inner if isinstance(inner, Mapping) else body
    status = obj.get("status")
    if not isinstance(status, str) or not status:
        raise SummaryError("batch has no status")
    metrics = obj.get("metrics")
    metrics = metrics if isinstance(metrics, Mapping) else {}
    count = obj.get("runCount")
    source = obj.get("source")
    return BatchReading(
        status=status,
        run_count=count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else None,
        created_at=optional_time(obj.get("createdAt")),
        updated_at=optional_time(obj.get("updatedAt")),
        source=source if source in LEGACY_SOURCES else (None if source is None else "OTHER"),
        files=number(metrics.get("numFiles")),
        pages=number(metrics.get("numPages")),
    )


def optional_time(value: Any) -> float | None:
    try:
        return None if value is None else parse_time(value)
    except SummaryError:
        return None


def number(value: Any) -> float | None:
    """A finite JSON number, else None (absent, null, a string, a bool)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None
