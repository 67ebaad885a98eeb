"""Turn a run summary (one JSON object of a list page) into an engine Observation."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from ..engine.observation import Detail, Observation
from ..kinds import UNKNOWN_SOURCE, KindSpec

USAGE_TAGS_KEY = "extend:usage_tags"


class SummaryError(ValueError):
    """A summary lacks a field counting needs (id, status, createdAt, updatedAt)."""


# Parsed timestamps by their text. Summaries are re-read every sync while inside the overlap window,
# and runs that change together share timestamps, so most lookups hit. Cleared when full (bounded).
_TIMES: dict[str, float] = {}
_MAX_TIMES = 65_536


def parse_time(value: Any) -> float:
    """RFC 3339 (e.g. 2024-03-21T15:29:55Z or with fractions/offsets) to Unix seconds."""
    if type(value) is str:
        cached = _TIMES.get(value)
        if cached is not None:
            return cached
    elif not isinstance(value, str):
        raise SummaryError(f"timestamp is {type(value).__name__}, not a string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise SummaryError("timestamp is not RFC 3339") from None
    if parsed.tzinfo is None:
        raise SummaryError("timestamp has no time zone")
    seconds = parsed.timestamp()
    if len(_TIMES) >= _MAX_TIMES:
        _TIMES.clear()
    _TIMES[value] = seconds
    return seconds


def _optional_time(value: Any) -> float | None:
    if value is None:
        return None
    if type(value) is str:
        cached = _TIMES.get(value)
        if cached is not None:
            return cached
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


def observation(spec: KindSpec, summary: dict[str, Any], *, usage_tags: bool = True) -> Observation:
    """`usage_tags`: read metadata["extend:usage_tags"] (off when no tag is counted: the hot path then
    skips the metadata lookup of every PROCESSED summary)."""
    get = summary.get  # hot path: called for every summary of every page
    run_id = get("id")
    status = get("status")
    if not isinstance(run_id, str) or not run_id:
        raise SummaryError("summary has no id")
    if not isinstance(status, str) or not status:
        raise SummaryError("summary has no status")
    started = get("startTime")
    ended = get("endTime")
    detail: Detail | None = None
    if status == "FAILED":
        if spec.failure_reasons is not None:
            reason = get("failureReason")
            detail = Detail(reason if isinstance(reason, str) else None)
    elif status == "PROCESSED" and (spec.has_metrics or spec.has_risk_level or usage_tags):
        detail = _processed(spec, get, usage_tags)
    source: str | None = None
    if spec.source_in_summary:
        value = get("source")
        source = value if isinstance(value, str) and value in spec.sources else UNKNOWN_SOURCE
    batch = get("batchId") if spec.batch_in_summary else None
    return Observation(
        run_id,
        status,
        parse_time(get("createdAt")),
        parse_time(get("updatedAt")),
        None if started is None else _optional_time(started),
        None if ended is None else _optional_time(ended),
        spec.processor_type_of(summary),
        _resource(spec, summary),
        _credits(summary),
        source,
        detail,
        batch if type(batch) is str and batch else None,
    )


def file_name(summary: dict[str, Any]) -> str | None:
    """The run's file name (`file.name`, parse runs); None when the summary has none."""
    file = summary.get("file")
    name = file.get("name") if isinstance(file, dict) else None
    return name if isinstance(name, str) and name else None


def _processed(spec: KindSpec, get: Any, usage_tags: bool) -> Detail | None:
    # Hot path (every PROCESSED summary re-read in the overlap window): type() checks, no helpers.
    pages = seconds = None
    if spec.has_metrics:
        metrics = get("metrics")
        if type(metrics) is dict:
            value = metrics.get("pageCount")
            if (type(value) is float or type(value) is int) and 0 <= value < math.inf:
                pages = float(value)
            value = metrics.get("processingTimeMs")
            if (type(value) is float or type(value) is int) and 0 <= value < math.inf:
                seconds = value / 1000.0
    risk = None
    if spec.has_risk_level:
        level = get("riskLevel")
        if type(level) is str:
            risk = level
    tags: tuple[str, ...] = ()
    if usage_tags and spec.has_metadata:
        metadata = get("metadata")
        if type(metadata) is dict:
            tags = _usage_tags(metadata)
    if pages is None and seconds is None and risk is None and not tags:
        return None
    return Detail(None, pages, seconds, risk, tags)


def _usage_tags(metadata: dict[str, Any]) -> tuple[str, ...]:
    tags = metadata.get(USAGE_TAGS_KEY)
    if not isinstance(tags, list):
        return ()
    return tuple(t for t in tags if isinstance(t, str))


def _resource(spec: KindSpec, summary: dict[str, Any]) -> tuple[str, str] | None:
    """`spec.resource_of`, with a fast path for the usual shape (the first key holds {id, name})."""
    if spec.resource_keys:
        obj = summary.get(spec.resource_keys[0])
        if type(obj) is dict:
            rid = obj.get("id")
            if type(rid) is str:
                name = obj.get("name")
                return rid, name if isinstance(name, str) else ""
    return spec.resource_of(summary)
