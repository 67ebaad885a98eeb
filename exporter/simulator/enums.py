"""Run families, status/source enums and label names, as documented in EXTEND_API.md §2-§3."""

from __future__ import annotations

from typing import Final, Literal

Family = Literal["workflow", "extract", "classify", "split", "parse", "edit"]
FAMILIES: Final[tuple[Family, ...]] = ("workflow", "extract", "classify", "split", "parse", "edit")
PROCESSOR_FAMILIES: Final[tuple[Family, ...]] = ("extract", "classify", "split")

# Exporter label semantics (kind label).
KIND: Final[dict[str, str]] = {
    "workflow": "workflow_run",
    "extract": "extract_run",
    "classify": "classify_run",
    "split": "split_run",
    "parse": "parse_run",
    "edit": "edit_run",
}
PROCESSOR_RUN_KIND: Final = "processor_run"
PROCESSOR_TYPE: Final[dict[str, str]] = {"extract": "EXTRACT", "classify": "CLASSIFY", "split": "SPLITTER"}
TYPE_TO_FAMILY: Final[dict[str, Family]] = {"EXTRACT": "extract", "CLASSIFY": "classify", "SPLITTER": "split"}

# Run id prefixes (SDK 1.20.0 examples).  Their ASCII order is used for tie-breaking by id (ids.py).
RUN_PREFIX: Final[dict[str, str]] = {
    "workflow": "workflow_run_",
    "extract": "exr_",
    "classify": "clr_",
    "split": "splr_",
    "parse": "pr_",
    "edit": "edr_",
}

# Statuses.
PENDING: Final = "PENDING"
PROCESSING: Final = "PROCESSING"
PROCESSED: Final = "PROCESSED"
FAILED: Final = "FAILED"
CANCELLED: Final = "CANCELLED"
CANCELLING: Final = "CANCELLING"
NEEDS_REVIEW: Final = "NEEDS_REVIEW"
REJECTED: Final = "REJECTED"

WORKFLOW_STATUSES: Final = (
    PENDING,
    PROCESSING,
    NEEDS_REVIEW,
    REJECTED,
    PROCESSED,
    FAILED,
    CANCELLED,
    CANCELLING,
)
PROCESSOR_STATUSES: Final = (PENDING, PROCESSING, PROCESSED, FAILED, CANCELLED)
PARSE_STATUSES: Final = (PENDING, PROCESSING, PROCESSED, FAILED)
EDIT_STATUSES: Final = (PROCESSING, PROCESSED, FAILED)

STATUSES: Final[dict[str, tuple[str, ...]]] = {
    "workflow": WORKFLOW_STATUSES,
    "extract": PROCESSOR_STATUSES,
    "classify": PROCESSOR_STATUSES,
    "split": PROCESSOR_STATUSES,
    "parse": PARSE_STATUSES,
    "edit": EDIT_STATUSES,
}

# "Terminal" in the exporter's sense (finished_since): NEEDS_REVIEW is *not* terminal (it counts as active).
TERMINAL: Final = frozenset({PROCESSED, FAILED, CANCELLED, REJECTED})
ACTIVE: Final = frozenset({PENDING, PROCESSING, NEEDS_REVIEW, CANCELLING})

# Sources (filter values only: no summary carries its source).
RUN_SOURCES: Final = (
    "ADMIN",
    "BATCH_PROCESSOR_RUN",
    "PLAYGROUND",
    "WORKFLOW_CONFIGURATION",
    "WORKFLOW_RUN",
    "STUDIO",
    "API",
)
PARSE_SOURCES: Final = (
    "API",
    "STUDIO",
    "WORKFLOW_RUN",
    "ADMIN",
    "BATCH_PARSER_RUN",
    "EDIT_RUN",
    "DOCUMENT_PROCESSOR_RUN",
)
EDIT_SOURCES: Final = ("API", "STUDIO", "ADMIN")

SOURCES: Final[dict[str, tuple[str, ...]]] = {
    "workflow": (),
    "extract": RUN_SOURCES,
    "classify": RUN_SOURCES,
    "split": RUN_SOURCES,
    "parse": PARSE_SOURCES,
    "edit": EDIT_SOURCES,
}
BATCH_SOURCES: Final = frozenset({"BATCH_PROCESSOR_RUN", "BATCH_PARSER_RUN"})
# Batch id prefixes: workflow batches (POST /workflow_runs/batch), parse batches, others (bpr_).
BATCH_PREFIX: Final[dict[str, str]] = {"workflow": "batch_", "parse": "bpar_"}
DEFAULT_BATCH_PREFIX: Final = "bpr_"

FILE_TYPES: Final = ("PDF", "PDF", "PDF", "PDF", "IMG", "DOCX", "EXCEL", "CSV", "TXT")
FILE_EXT: Final[dict[str, str]] = {
    "PDF": "pdf",
    "IMG": "png",
    "DOCX": "docx",
    "EXCEL": "xlsx",
    "CSV": "csv",
    "TXT": "txt",
}

FAILURE_REASONS: Final[dict[str, tuple[str, ...]]] = {
    "workflow": ("INTERNAL_ERROR", "STEP_FAILED"),
    "extract": (
        "INTERNAL_ERROR",
        "FAILED_TO_PROCESS_FILE",
        "INVALID_PROCESSOR",
        "PARSING_ERROR",
        "OUT_OF_CREDITS",
    ),
    "classify": ("INTERNAL_ERROR", "FAILED_TO_PROCESS_FILE", "INVALID_PROCESSOR"),
    "split": ("INTERNAL_ERROR", "FAILED_TO_PROCESS_FILE", "PRE_PROCESSING_FAILURE"),
    "parse": (
        "UNABLE_TO_DOWNLOAD_FILE",
        "CORRUPT_FILE",
        "OCR_ERROR",
        "PASSWORD_PROTECTED_FILE",
        "INTERNAL_ERROR",
    ),
    "edit": ("FIELD_DETECTION_ERROR", "CORRUPT_FILE", "EMPTY_SCHEMA", "INTERNAL_ERROR"),
}

API_V_LEGACY: Final = "2025-04-21"
API_V_CURRENT: Final = "2026-02-09"
API_V_OLDEST: Final = "2024-12-23"
KNOWN_VERSIONS: Final = frozenset({API_V_OLDEST, API_V_LEGACY, API_V_CURRENT})
