"""Run families, status/source enums and label names, as documented in EXTEND_API.md §2-§3."""

from __future__ import annotations

from typing import Final, Literal

Family = Literal["workflow", "extract", "classify", "split", "parse", "edit", "verify"]
FAMILIES: Final[tuple[Family, ...]] = ("workflow", "extract", "classify", "split", "parse", "edit", "verify")
PROCESSOR_FAMILIES: Final[tuple[Family, ...]] = ("extract", "classify", "split")

# Exporter label semantics (kind label).
KIND: Final[dict[str, str]] = {
    "workflow": "workflow_run",
    "extract": "extract_run",
    "classify": "classify_run",
    "split": "split_run",
    "parse": "parse_run",
    "edit": "edit_run",
    "verify": "verify_run",
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
    "verify": "vr_",
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
VERIFY_STATUSES: Final = (PROCESSING, PROCESSED, FAILED, CANCELLED)

STATUSES: Final[dict[str, tuple[str, ...]]] = {
    "workflow": WORKFLOW_STATUSES,
    "extract": PROCESSOR_STATUSES,
    "classify": PROCESSOR_STATUSES,
    "split": PROCESSOR_STATUSES,
    "parse": PARSE_STATUSES,
    "edit": EDIT_STATUSES,
    "verify": VERIFY_STATUSES,
}

# "Terminal" in the exporter's sense (finished_since): NEEDS_REVIEW is *not* terminal (it counts as active).
TERMINAL: Final = frozenset({PROCESSED, FAILED, CANCELLED, REJECTED})
ACTIVE: Final = frozenset({PENDING, PROCESSING, NEEDS_REVIEW, CANCELLING})

# Sources (filter values; only verify summaries also carry their source).
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
VERIFY_SOURCES: Final = ("API", "STUDIO")

SOURCES: Final[dict[str, tuple[str, ...]]] = {
    "workflow": (),
    "extract": RUN_SOURCES,
    "classify": RUN_SOURCES,
    "split": RUN_SOURCES,
    "parse": PARSE_SOURCES,
    "edit": EDIT_SOURCES,
    "verify": VERIFY_SOURCES,
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

# failureReason values: each kind's documented list (SDK 1.20.0) plus, last, one value no document lists
# yet (enums grow: the exporter must pass it through). Workflow summaries carry no failureReason.
UNDOCUMENTED_REASONS: Final[dict[str, str]] = {
    "extract": "DOCUMENT_TOO_COMPLEX",
    "classify": "DOCUMENT_TOO_COMPLEX",
    "split": "DOCUMENT_TOO_COMPLEX",
    "parse": "UNSUPPORTED_ENCODING",
    "edit": "TEMPLATE_MISMATCH",
    "verify": "SIGNAL_TIMEOUT",
}
_PROC_REASONS: Final = (
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
FAILURE_REASONS: Final[dict[str, tuple[str, ...]]] = {
    "workflow": ("INTERNAL_ERROR", "STEP_FAILED"),
    "extract": (*_PROC_REASONS, "SCHEMA_GENERATION_FAILED", UNDOCUMENTED_REASONS["extract"]),
    "classify": (*_PROC_REASONS, UNDOCUMENTED_REASONS["classify"]),
    "split": (*_PROC_REASONS, UNDOCUMENTED_REASONS["split"]),
    "parse": (
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
        UNDOCUMENTED_REASONS["parse"],
    ),
    "edit": (
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
        UNDOCUMENTED_REASONS["edit"],
    ),
    "verify": (
        "FILE_TYPE_NOT_SUPPORTED",
        "NO_APPLICABLE_SIGNALS",
        "PARSE_FAILED",
        "REQUEST_ABORTED",
        "INTERNAL_ERROR",
        UNDOCUMENTED_REASONS["verify"],
    ),
}
# Families whose summaries carry failureReason / metrics / caller metadata (EXTEND_API.md §2.3-2.8, §6).
REASON_FAMILIES: Final = frozenset({"extract", "classify", "split", "parse", "edit", "verify"})
METRICS_FAMILIES: Final = frozenset({"parse", "edit", "verify"})
METADATA_FAMILIES: Final = frozenset({"extract", "classify", "split", "parse", "verify"})
RISK_LEVELS: Final = ("LOW", "LOW", "LOW", "LOW", "LOW", "LOW", "MEDIUM", "MEDIUM", "MEDIUM", "HIGH")
USAGE_TAGS_KEY: Final = "extend:usage_tags"
# metadata["extend:usage_tags"] per run, by hash: no metadata, one tag, two tags.
USAGE_TAG_SETS: Final[tuple[tuple[str, ...] | None, ...]] = (
    None,
    None,
    None,
    ("team-claims",),
    ("team-claims",),
    ("team_underwriting",),
    ("team_underwriting", "priority"),
    ("customer-acme",),
)

API_V_LEGACY: Final = "2025-04-21"
API_V_CURRENT: Final = "2026-02-09"
API_V_OLDEST: Final = "2024-12-23"
KNOWN_VERSIONS: Final = frozenset({API_V_OLDEST, API_V_LEGACY, API_V_CURRENT})
