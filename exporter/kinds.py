"""One declarative description per run kind: where to list it and how to read its summaries.

Adding a kind means adding one `KindSpec` entry here; the sync engine has no per-kind code paths.
Facts come from ../shared/EXTEND_API.md (§2 endpoints, §3 enums).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

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

# Label value for a run that no source-filtered listing returned (a source enum value added after
# this release, or a run deleted while we were attributing it). Counted, never dropped.
UNKNOWN_SOURCE = "UNKNOWN"


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

    @property
    def all_statuses(self) -> tuple[str, ...]:
        return self.active_statuses + self.terminal_statuses

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
        ),
    )
}

PROCESSOR_TYPES = ("EXTRACT", "CLASSIFY", "SPLITTER")

DEFAULT_KINDS: dict[str, tuple[str, ...]] = {
    API_2026: ("workflow_run", "extract_run", "classify_run", "split_run", "parse_run", "edit_run"),
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
