"""Attributes derived from (seed, seq) instead of stored per run: file, sourceId, failure reason, ...

Keeping these out of ``Run`` keeps a million-run history small in memory.
"""

from __future__ import annotations

from collections.abc import Mapping

from .enums import (
    BATCH_PREFIX,
    DEFAULT_BATCH_PREFIX,
    FAILURE_REASONS,
    FILE_EXT,
    FILE_TYPES,
    PROCESSOR_FAMILIES,
    RISK_LEVELS,
    USAGE_TAG_SETS,
)
from .ids import derived_id, h
from .model import BATCH_SALT, Batch, Run

_STEMS = (
    "invoice",
    "receipt",
    "bank_statement",
    "w2_form",
    "contract",
    "purchase_order",
    "bill_of_lading",
    "insurance_claim",
    "paystub",
    "utility_bill",
    "loan_application",
    "medical_record",
)
_FAILURE_MESSAGES = {
    "INTERNAL_ERROR": "An unexpected internal error occurred.",
    "FAILED_TO_PROCESS_FILE": "Failed to process the file.",
    "INVALID_PROCESSOR": "The processor configuration is invalid.",
    "PARSING_ERROR": "Failed to parse the extraction output.",
    "OUT_OF_CREDITS": "Insufficient credits.",
    "PRE_PROCESSING_FAILURE": "An error occurred during preprocessing.",
    "UNABLE_TO_DOWNLOAD_FILE": "The file could not be downloaded.",
    "CORRUPT_FILE": "The file appears to be corrupted.",
    "OCR_ERROR": "An error occurred during OCR.",
    "PASSWORD_PROTECTED_FILE": "The file is password protected.",
    "FIELD_DETECTION_ERROR": "An error occurred during field detection.",
    "EMPTY_SCHEMA": "No schema was provided and no fields could be detected.",
    "STEP_FAILED": "A workflow step failed.",
}


def file_type(seed: int, run: Run) -> str:
    if run.fam == "edit":
        return "PDF"
    return FILE_TYPES[h(seed, run.seq, 0x21) % len(FILE_TYPES)]


# Names real uploads share: a `fileNameContains` listing of one of them holds many runs.
SHARED_FILE_NAMES = ("scan.pdf", "invoice.pdf", "document.pdf")


def file_name(seed: int, run: Run, shared: float = 0.0) -> str:
    """The run's file name; a `shared` fraction of runs (by hash) carry one of SHARED_FILE_NAMES."""
    x = h(seed, run.seq, 0x22)
    if shared > 0 and h(seed, run.seq, 0x30) % 10_000 < shared * 10_000:
        return SHARED_FILE_NAMES[x % len(SHARED_FILE_NAMES)]
    return f"{_STEMS[x % len(_STEMS)]}_{(x >> 16) % 100000:05d}.{FILE_EXT[file_type(seed, run)]}"


def file_id(seed: int, run: Run) -> str:
    return derived_id("file_", seed, run.seq, 0x23)


def page_count(seed: int, run: Run) -> int:
    return 1 + h(seed, run.seq, 0x24) % 24


def batch_prefix(fam: str) -> str:
    return BATCH_PREFIX.get(fam, DEFAULT_BATCH_PREFIX)


def batch_id(seed: int, fam: str, batch_index: int) -> str:
    return derived_id(batch_prefix(fam), seed, batch_index, BATCH_SALT)


def source_id(seed: int, run: Run) -> str | None:
    """The id of the entity that created the run (the ``sourceId`` filter)."""
    src = run.source
    if src is None:
        return None
    if src in ("BATCH_PROCESSOR_RUN", "BATCH_PARSER_RUN") and run.batch >= 0:
        return batch_id(seed, run.fam, run.batch)
    if src == "WORKFLOW_RUN":
        return derived_id("workflow_run_", seed, run.seq, 0x26)
    if src in ("DOCUMENT_PROCESSOR_RUN",):
        return derived_id("exr_", seed, run.seq, 0x27)
    if src == "EDIT_RUN":
        return derived_id("edr_", seed, run.seq, 0x28)
    if run.fam == "verify" and src == "API":  # the id of the creating request
        return derived_id("req_", seed, run.seq, 0x2E)
    return None


def failure_reason(seed: int, run: Run, reasons: Mapping[str, tuple[str, ...]] = FAILURE_REASONS) -> str:
    choices = reasons[run.fam]
    return choices[h(seed, run.seq, 0x29) % len(choices)]


def reasons_without(excluded: frozenset[str]) -> dict[str, tuple[str, ...]]:
    """Each family's failureReason values less `excluded` (a family keeps its list rather than none)."""
    return {
        fam: tuple(r for r in reasons if r not in excluded) or reasons
        for fam, reasons in FAILURE_REASONS.items()
    }


def failure_message(reason: str) -> str:
    return _FAILURE_MESSAGES.get(reason, "The run failed.")


def total_credits(seed: int, run: Run) -> float | None:
    """``usage.totalCredits``: own credits plus the parse run it caused (extract/classify/split only)."""
    if run.credits is None:
        return None
    if run.fam in PROCESSOR_FAMILIES:
        return run.credits + 0.25 * (1 + h(seed, run.seq, 0x2A) % 8)
    return run.credits


def processing_ms(run: Run) -> float:
    """``metrics.processingTimeMs``: Extend's own processing time (start to end, queueing excluded)."""
    return float(max((run.ended or run.updated) - (run.started or run.created), 1))


def metrics_page_count(seed: int, run: Run) -> int | None:
    """``metrics.pageCount``; verify reports null when it cannot tell (some image inputs)."""
    if run.fam == "verify" and file_type(seed, run) == "IMG":
        return None
    return page_count(seed, run)


def risk_level(seed: int, run: Run) -> str:
    return RISK_LEVELS[h(seed, run.seq, 0x2C) % len(RISK_LEVELS)]


def usage_tags(seed: int, run: Run) -> tuple[str, ...] | None:
    """``metadata["extend:usage_tags"]`` the caller set at creation (None: no metadata)."""
    return USAGE_TAG_SETS[h(seed, run.seq, 0x2D) % len(USAGE_TAG_SETS)]


def parse_run_id(seed: int, run: Run) -> str:
    return derived_id("pr_", seed, run.seq, 0x2B)


def evaluation_set_id(seed: int, batch: Batch) -> str:
    """The evaluation set an evaluation set run (a legacy batch with source EVAL_SET) ran."""
    return derived_id("ev_", seed, batch.proc, 0x31 + PROCESSOR_FAMILIES.index(batch.fam))
