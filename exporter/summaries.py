"""Turn a run summary (one JSON object of a list page) into an engine Observation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .engine import Observation
from .kinds import KindSpec


class SummaryError(ValueError):
    """A summary lacks a field counting needs (id, status, createdAt, updatedAt)."""


def parse_time(value: Any) -> float:
    """RFC 3339 (e.g. 2024-03-21T15:29:55Z or with fractions/offsets) to Unix seconds."""
    if not isinstance(value, str):
        raise SummaryError(f"timestamp is {type(value).__name__}, not a string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise SummaryError("timestamp is not RFC 3339") from None
    if parsed.tzinfo is None:
        raise SummaryError("timestamp has no time zone")
    return parsed.timestamp()


def _optional_time(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except SummaryError:
        return None


def _credits(summary: dict[str, Any]) -> float | None:
    usage = summary.get("usage")
    if isinstance(usage, dict):
        credits = usage.get("credits")
        if isinstance(credits, int | float) and not isinstance(credits, bool):
            return float(credits)
    return None


def observation(spec: KindSpec, summary: dict[str, Any]) -> Observation:
    run_id = summary.get("id")
    status = summary.get("status")
    if not isinstance(run_id, str) or not run_id:
        raise SummaryError("summary has no id")
    if not isinstance(status, str) or not status:
        raise SummaryError("summary has no status")
    return Observation(
        id=run_id,
        status=status,
        created_at=parse_time(summary.get("createdAt")),
        updated_at=parse_time(summary.get("updatedAt")),
        started_at=_optional_time(summary.get("startTime")),
        finished_at=_optional_time(summary.get("endTime")),
        processor_type=spec.processor_type_of(summary),
        resource=spec.resource_of(summary),
        credits=_credits(summary),
    )
