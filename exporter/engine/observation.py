"""What one run summary says, reduced to what counting needs: the engine's input.

A leaf module (it imports nothing of the exporter) so that the summary parser, the engine and the
accumulators can all read it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


@dataclass(slots=True, frozen=True)
class Observation:
    """What one run summary says, reduced to what counting needs."""

    id: str
    status: str
    created_at: float
    updated_at: float
    started_at: float | None = None  # workflow startTime; else creation time is used
    finished_at: float | None = None  # workflow endTime; else updatedAt when first seen terminal
    processor_type: str = ""
    resource: tuple[str, str] | None = None  # (id, name) of the processor / workflow
    credits: float | None = None
    source: str | None = None  # from the summary (verify); None: found by source-filtered listings
    # What a FAILED or PROCESSED summary says beyond its status; None for the rest (most summaries),
    # which keeps building an Observation on the hot path as cheap as before.
    detail: Detail | None = None
    batch_id: str | None = None  # `batchId` of parse and workflow summaries

    @property
    def failure_reason(self) -> str | None:
        return None if self.detail is None else self.detail.failure_reason

    @property
    def pages(self) -> float | None:
        return None if self.detail is None else self.detail.pages

    @property
    def processing_seconds(self) -> float | None:
        return None if self.detail is None else self.detail.processing_seconds

    @property
    def risk_level(self) -> str | None:
        return None if self.detail is None else self.detail.risk_level

    @property
    def usage_tags(self) -> tuple[str, ...]:
        return () if self.detail is None else self.detail.usage_tags


class Detail(NamedTuple):
    """Read only where the kind's summaries carry it (kinds.KindSpec), and only for the status it
    belongs to: failure_reason when FAILED, the rest when PROCESSED."""

    failure_reason: str | None = None
    pages: float | None = None  # metrics.pageCount
    processing_seconds: float | None = None  # metrics.processingTimeMs / 1000
    risk_level: str | None = None
    usage_tags: tuple[str, ...] = ()  # metadata["extend:usage_tags"]
