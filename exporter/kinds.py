"""One declarative description per run kind: where to list it and how to read its summaries.

Adding a kind means adding one `KindSpec` entry here; the sync engine has no per-kind code paths.
Facts come from the team's Extend API reference (§2 endpoints, §3 enums), which is not vendored here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .metrics.labels import UNKNOWN

API_2026 = "2026-02-09"
API_2025 = "2025-04-21"
API_VERSIONS = (API_2026, API_2025)

# Statuses a run can leave again (the gauge `extend_runs_active`). NEEDS_REVIEW is "terminal" for the
# SDK's polling helpers, but a reviewer still moves it to PROCESSED or REJECTED, so we keep it active.
ACTIVE_STATUSES = frozenset({"PENDING", "PROCESSING", "NEEDS_REVIEW", "CANCELLING"})

RUN_SOURCES = (
    "API",
    "WORKFLOW_RUN",
    "STUDIO",
    "BATCH_PROCESSOR_RUN",
    "PLAYGROUND",
    "WORKFLOW_CONFIGURATION",
    "ADMIN",
)
PARSE_SOURCES = (
    "API",
    "WORKFLOW_RUN",
    "DOCUMENT_PROCESSOR_RUN",
    "STUDIO",
    "BATCH_PARSER_RUN",
    "EDIT_RUN",
    "ADMIN",
)
EDIT_SOURCES = ("API", "STUDIO", "ADMIN")
VERIFY_SOURCES = ("API", "STUDIO")

# failureReason values each kind's run documents (SDK extend-ai 1.20.0, the full run types' docstrings;
# EXTEND_API.md §2.4-2.8 lists a subset). "New values may be added": others pass through, capped.
_PROC_REASONS = (
    "ABORTED",
    "INTERNAL_ERROR",
    "FAILED_TO_PROCESS_FILE",
    "INVALID_PROCESSOR",
    "INVALID_CONFIGURATION",
    "PARSING_ERROR",
    "PRE_PROCESSING_FAILURE",
    "POST_PROCESSING_FAILURE",
    "OUT_OF_CREDITS",
)
EXTRACT_REASONS = (*_PROC_REASONS, "SCHEMA_GENERATION_FAILED")
PARSE_REASONS = (
    "UNABLE_TO_DOWNLOAD_FILE",
    "FILE_TYPE_NOT_SUPPORTED",
    "FILE_SIZE_TOO_LARGE",
    "CORRUPT_FILE",
    "OCR_ERROR",
    "PASSWORD_PROTECTED_FILE",
    "FAILED_TO_CONVERT_TO_PDF",
    "FAILED_TO_CONVERT_TO_JPEG",
    "FAILED_TO_GENERATE_TARGET_FORMAT",
    "CHUNKING_ERROR",
    "INTERNAL_ERROR",
    "INVALID_CONFIG_OPTIONS",
    "OUT_OF_CREDITS",
)
EDIT_REASONS = (
    "UNABLE_TO_DOWNLOAD_FILE",
    "FILE_TYPE_NOT_SUPPORTED",
    "FILE_SIZE_TOO_LARGE",
    "CORRUPT_FILE",
    "FIELD_DETECTION_ERROR",
    "PASSWORD_PROTECTED_FILE",
    "FAILED_TO_CONVERT_TO_PDF",
    "INTERNAL_ERROR",
    "INVALID_OPTIONS",
    "EMPTY_SCHEMA",
    "OUT_OF_CREDITS",
    "SCHEMA_VALIDATION_ERROR",
)
VERIFY_REASONS = (
    "FILE_TYPE_NOT_SUPPORTED",
    "NO_APPLICABLE_SIGNALS",
    "PARSE_FAILED",
    "REQUEST_ABORTED",
    "INTERNAL_ERROR",
)
RISK_LEVELS = ("LOW", "MEDIUM", "HIGH")

# Label value for a run that no source-filtered listing returned (a source enum value added after
# this release, or a run deleted while we were attributing it). Counted, never dropped.
UNKNOWN_SOURCE = UNKNOWN


class Order(StrEnum):
    """Which timestamp a listing is ordered by (descending)."""

    UPDATED = "updatedAt"
    CREATED = "createdAt"
    NONE = "none"  # order not recognised: every sync reads the whole list


@dataclass(frozen=True)
class KindSpec:
    name: str
    path: str
    # API version the endpoint needs; None means "the configured version" (the shape follows it).
    api_version: str | None
    active_statuses: tuple[str, ...]  # values the endpoint's `status` filter accepts
    terminal_statuses: tuple[str, ...]
    sources: tuple[str, ...]  # `source` filter values; empty when the endpoint has none
    sortable: bool
    processor_type: str  # implied by the endpoint; "" for none
    type_from_field: bool = False  # legacy summaries carry `type`
    resource_keys: tuple[str, ...] = ()  # nested object holding the processor/workflow {id, name}
    flat_resource: tuple[str, str] | None = None  # legacy flat (id field, name field)
    default_order: Order = Order.UPDATED
    # failureReason values the kind documents; None: its summaries carry no failureReason.
    failure_reasons: tuple[str, ...] | None = None
    source_in_summary: bool = False  # the summary carries `source`: no attribution listings needed
    has_metrics: bool = False  # PROCESSED summaries carry `metrics` {processingTimeMs, pageCount}
    has_risk_level: bool = False  # PROCESSED summaries carry `riskLevel` (verify)
    has_metadata: bool = False  # summaries carry caller `metadata` (usage tags)
    batch_in_summary: bool = False  # summaries carry `batchId` (parse and workflow runs)
    # The listing filter that returns a batch's runs (`batchId`; legacy batch processor runs: the
    # `sourceId` of their runs); None: the kind has no batches.
    batch_filter: str | None = None
    # Terminal statuses the `status` filter accepts, where fewer than terminal_statuses (parse: no
    # CANCELLED in the SDK's filter enum, EXTEND_API.md §7.4).
    terminal_filters: tuple[str, ...] | None = None

    @property
    def all_statuses(self) -> tuple[str, ...]:
        return self.active_statuses + self.terminal_statuses

    @property
    def terminal_filter_statuses(self) -> tuple[str, ...]:
        return self.terminal_statuses if self.terminal_filters is None else self.terminal_filters

    def envelope_keys(self, api_version: str) -> tuple[str, ...]:
        """Keys that may hold the page's items, most likely first."""
        if self.path == "/processor_runs":
            return ("processorRuns", "data")
        if self.path == "/workflow_runs" and api_version == API_2025:
            return ("workflowRuns", "data")
        return ("data",)

    def request_version(self, configured: str) -> str:
        return self.api_version or configured

    def processor_type_of(self, summary: Mapping[str, Any]) -> str:
        if self.type_from_field:
            value = summary.get("type")
            return value if isinstance(value, str) else ""
        return self.processor_type

    def resource_of(self, summary: Mapping[str, Any]) -> tuple[str, str] | None:
        for key in self.resource_keys:
            obj = summary.get(key)
            if isinstance(obj, Mapping) and isinstance(obj.get("id"), str):
                name = obj.get("name")
                return obj["id"], name if isinstance(name, str) else ""
        if self.flat_resource:
            rid = summary.get(self.flat_resource[0])
            if isinstance(rid, str):
                name = summary.get(self.flat_resource[1])
                return rid, name if isinstance(name, str) else ""
        return None


_PROC_ACTIVE = ("PENDING", "PROCESSING")
_PROC_TERMINAL = ("PROCESSED", "FAILED", "CANCELLED")

KINDS: dict[str, KindSpec] = {
    spec.name: spec
    for spec in (
        KindSpec(
            name="workflow_run",
            path="/workflow_runs",
            api_version=None,
            active_statuses=("PENDING", "PROCESSING", "NEEDS_REVIEW", "CANCELLING"),
            terminal_statuses=("PROCESSED", "FAILED", "CANCELLED", "REJECTED"),
            sources=(),
            sortable=True,
            processor_type="",
            resource_keys=("workflow",),
            flat_resource=("workflowId", "workflowName"),
            batch_in_summary=True,
            batch_filter="batchId",
        ),
        KindSpec(
            name="extract_run",
            path="/extract_runs",
            api_version=API_2026,
            active_statuses=_PROC_ACTIVE,
            terminal_statuses=_PROC_TERMINAL,
            sources=RUN_SOURCES,
            sortable=True,
            processor_type="EXTRACT",
            resource_keys=("extractor",),
            batch_filter="batchId",
            failure_reasons=EXTRACT_REASONS,
            has_metadata=True,
        ),
        KindSpec(
            name="classify_run",
            path="/classify_runs",
            api_version=API_2026,
            active_statuses=_PROC_ACTIVE,
            terminal_statuses=_PROC_TERMINAL,
            sources=RUN_SOURCES,
            sortable=True,
            processor_type="CLASSIFY",
            resource_keys=("classifier",),
            batch_filter="batchId",
            failure_reasons=_PROC_REASONS,
            has_metadata=True,
        ),
        KindSpec(
            name="split_run",
            path="/split_runs",
            api_version=API_2026,
            active_statuses=_PROC_ACTIVE,
            terminal_statuses=_PROC_TERMINAL,
            sources=RUN_SOURCES,
            sortable=True,
            processor_type="SPLITTER",
            resource_keys=("splitter",),
            batch_filter="batchId",
            failure_reasons=_PROC_REASONS,
            has_metadata=True,
        ),
        KindSpec(
            name="parse_run",
            path="/parse_runs",
            api_version=API_2026,
            active_statuses=_PROC_ACTIVE,
            # CANCELLED is not in the SDK's parse enums, but POST /parse_runs/{id}/cancel exists
            # (EXTEND_API.md §7.4), so we expect it and start its series at zero.
            terminal_statuses=("PROCESSED", "FAILED", "CANCELLED"),
            sources=PARSE_SOURCES,
            sortable=False,
            processor_type="",
            default_order=Order.CREATED,
            failure_reasons=PARSE_REASONS,
            has_metrics=True,
            has_metadata=True,
            batch_in_summary=True,
            batch_filter="batchId",
            terminal_filters=("PROCESSED", "FAILED"),
        ),
        KindSpec(
            name="edit_run",
            path="/edit_runs",
            api_version=API_2026,
            active_statuses=("PROCESSING",),
            terminal_statuses=("PROCESSED", "FAILED"),
            sources=EDIT_SOURCES,
            sortable=True,
            processor_type="",
            failure_reasons=EDIT_REASONS,
            has_metrics=True,
        ),
        KindSpec(
            name="verify_run",
            path="/verify_runs",
            api_version=API_2026,
            active_statuses=("PROCESSING",),
            terminal_statuses=("PROCESSED", "FAILED", "CANCELLED"),
            sources=VERIFY_SOURCES,
            sortable=True,
            processor_type="",
            failure_reasons=VERIFY_REASONS,
            source_in_summary=True,
            has_metrics=True,
            has_risk_level=True,
            has_metadata=True,
        ),
        KindSpec(
            name="processor_run",
            path="/processor_runs",
            api_version=None,
            active_statuses=_PROC_ACTIVE,
            terminal_statuses=_PROC_TERMINAL,
            sources=RUN_SOURCES,
            sortable=True,
            processor_type="",
            type_from_field=True,
            flat_resource=("processorId", "processorName"),
            batch_filter="sourceId",
        ),
    )
}

PROCESSOR_TYPES = ("EXTRACT", "CLASSIFY", "SPLITTER")

DEFAULT_KINDS: dict[str, tuple[str, ...]] = {
    API_2026: (
        "workflow_run",
        "extract_run",
        "classify_run",
        "split_run",
        "parse_run",
        "edit_run",
        "verify_run",
    ),
    API_2025: ("processor_run", "workflow_run"),
}
KINDS_BY_VERSION: dict[str, frozenset[str]] = {
    API_2026: frozenset(KINDS),
    API_2025: frozenset({"processor_run", "workflow_run"}),
}


def label_processor_types(spec: KindSpec) -> tuple[str, ...]:
    """processor_type label values a kind's series start with."""
    if spec.type_from_field:
        return PROCESSOR_TYPES
    return (spec.processor_type,)


def label_sources(spec: KindSpec) -> tuple[str, ...]:
    return spec.sources or ("",)


def is_active_status(status: str) -> bool:
    return status in ACTIVE_STATUSES
