"""Evaluation set runs (``GET /evaluation_set_runs/{id}``): a legacy batch processor run with source
EVAL_SET, as the evaluation endpoint shows it, with accuracy metrics derived from its runs.

Shape: the SDK's ``EvaluationSetRun`` (extend-ai 1.20.0): entity and entity version of the processor,
``metrics`` by entity type (``EXTRACT``: accuracy and per-field ``fieldMetrics``; ``CLASSIFY``:
accuracy and per-class ``classificationMetrics``; ``SPLITTER``: precision, recall, f1), files and pages.
Metrics grow as the runs finish: each field (class) is accurate on a fixed share of the finished files,
derived from the seed, so a test can compute every figure the endpoint shows.
"""

from __future__ import annotations

from typing import Any

from . import derive
from .batches import derive_status
from .catalog import Processor
from .clock import TimestampFormatter
from .enums import FAILED, PROCESSED
from .ids import h
from .model import Batch, Run

JSON = dict[str, Any]

EXTRACT_FIELDS = ("invoice_number", "total_amount", "vendor.name", "due_date", "line_items.amount", "tax_id")
CLASSES = ("invoice", "receipt", "contract", "bank_statement", "other")
_ENTITY = {
    "extract": ("extractor", "extractor_version", "extractorId", "EXTRACT"),
    "classify": ("classifier", "classifier_version", "classifierId", "CLASSIFY"),
    "split": ("splitter", "splitter_version", "splitterId", "SPLITTER"),
}


def field_names(family: str, n: int) -> list[str]:
    """The first `n` fields (extract) or classes (classify) of an evaluation set."""
    base = EXTRACT_FIELDS if family == "extract" else CLASSES
    return [base[i] if i < len(base) else f"field_{i}" for i in range(n)]


def share_accurate(seed: int, batch: Batch, i: int) -> float:
    """The share of finished files on which field (class) `i` is right: 0.50 to 0.99."""
    return 0.5 + (h(seed, batch.index, 0x40 + i) % 50) / 100


def finished_files(members: list[Run]) -> int:
    return sum(1 for r in members if r.status in (PROCESSED, FAILED))


def metrics(seed: int, batch: Batch, members: list[Run], n_fields: int) -> JSON:
    done = finished_files(members)
    ptype = _ENTITY[batch.fam][3]
    out: JSON = {"type": ptype}
    names = field_names(batch.fam, n_fields)
    accurate = [int(done * share_accurate(seed, batch, i)) for i in range(len(names))]
    if ptype == "EXTRACT":
        out["accuracy"] = sum(accurate) / (done * len(names)) if done and names else None
        out["fieldMetrics"] = {
            name: {
                "countTotal": float(done),
                "countPresent": float(done),
                "countExpected": float(done),
                "countAccurate": float(right),
                **({"accuracy": right / done} if done else {}),
            }
            for name, right in zip(names, accurate, strict=True)
        }
    elif ptype == "CLASSIFY":
        out["accuracy"] = sum(accurate) / (done * len(names)) if done and names else None
        out["classificationMetrics"] = {
            name: {
                "countExpected": float(done),
                "countPredicted": float(done),
                "countCorrect": float(right),
                "precision": right / done if done else None,
                "recall": right / done if done else None,
                "f1": right / done if done else None,
            }
            for name, right in zip(names, accurate, strict=True)
        }
    else:
        right = accurate[0] if accurate else 0
        out.update(
            precision=right / done if done else None,
            recall=right / done if done else None,
            f1=right / done if done else None,
            numSplitsExpected=float(done),
            numSplitsPredicted=float(done),
            numSplitsCorrect=float(right),
        )
    pages = sum(derive.page_count(seed, r) for r in members if r.status in (PROCESSED, FAILED))
    out.update(
        numFilesTotal=float(len(batch.seqs)),
        numFilesProcessed=float(done),
        numFiles=float(done),
        numPages=float(pages),
        meanLatencyMs=1500.0 if done else None,
        p50LatencyMs=1200.0 if done else None,
        p90LatencyMs=2500.0 if done else None,
        p95LatencyMs=3100.0 if done else None,
        p99LatencyMs=4800.0 if done else None,
    )
    return out


def evaluation_set_run(
    seed: int, batch: Batch, members: list[Run], proc: Processor, fmt: TimestampFormatter, n_fields: int
) -> JSON:
    obj, version_obj, parent_key, _ = _ENTITY[batch.fam]
    updated = max((r.updated for r in members), default=batch.created)
    return {
        "object": "evaluation_set_run",
        "id": derive.batch_id(seed, batch.fam, batch.index),
        "evaluationSetId": derive.evaluation_set_id(seed, batch),
        "entity": {
            "object": obj,
            "id": proc.id,
            "name": proc.name,
            "createdAt": fmt(proc.created_ms),
            "updatedAt": fmt(proc.updated_ms),
        },
        "entityVersion": {
            "object": version_obj,
            "id": proc.version_id,
            "version": proc.version,
            parent_key: proc.id,
            "createdAt": fmt(proc.updated_ms),
        },
        "metrics": metrics(seed, batch, members, n_fields),
        "status": derive_status(batch.counts, legacy=True),
        "options": {},
        "createdAt": fmt(batch.created),
        "updatedAt": fmt(updated),
    }
