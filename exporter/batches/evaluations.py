"""Evaluation set runs watched by ID: their status and accuracy figures, read until they end.

`GET /evaluation_set_runs/{id}` (2026-02-09) answers an EvaluationSetRun: status, the entity (extractor,
classifier or splitter) and version that ran, and `metrics` by entity type: `accuracy` and per-field
`fieldMetrics` (extract), `accuracy` and per-class `classificationMetrics` (classify), `precision`,
`recall`, `f1` (splitter), files, pages and latency quantiles. The documents disagree on the ID prefix,
on whether `metrics` carries `type` and on CANCELLED; all are read. Where that endpoint does not
know the ID (or under 2025-04-21) the legacy `GET /batch_processor_runs/{id}` gives status, files and
pages. A run is read at every sync of the host kind until it is done, then once more, then no more.

Per-field scores are capped: the first `max_fields` fields by name keep their own series; the rest are
pooled under OTHER from their counts (accurate / expected; for classes correct / predicted and
correct / expected), so no field is silently dropped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..api.client import ApiClient, ApiError
from ..kinds import API_2026
from ..metrics.labels import OTHER
from .records import BATCH_PROCESSOR_RUNS, EVALUATION_SET_RUNS, NOT_DONE, number, read_batch
from .unknown import Reporter, alone

log = logging.getLogger("exporter.batches")

EVALUATION_STATUSES = ("PENDING", "PROCESSING", "PROCESSED", "FAILED", "CANCELLED")
SCORE_METRICS = ("accuracy", "precision", "recall", "f1")
QUANTILES = (
    ("0.5", "p50LatencyMs"),
    ("0.9", "p90LatencyMs"),
    ("0.95", "p95LatencyMs"),
    ("0.99", "p99LatencyMs"),
)
ENTITY_TYPES = {"extractor": "EXTRACT", "classifier": "CLASSIFY", "splitter": "SPLITTER"}
MAX_FIELD_LEN = 128


@dataclass
class Evaluation:
    """What was last read of one evaluation set run (empty until the first read)."""

    id: str
    status: str | None = None
    evaluation_set_id: str = ""
    entity_type: str = ""
    entity_id: str = ""
    entity_version: str = ""
    scores: dict[tuple[str, str], float] = field(default_factory=dict)  # (metric, field) -> 0..1
    files: dict[str, float] = field(default_factory=dict)  # total / processed
    pages: float | None = None
    latency: dict[str, float] = field(default_factory=dict)  # quantile -> seconds
    final: bool = False  # read once more after it ended: not read again

    @property
    def done(self) -> bool:
        return self.status is not None and self.status not in NOT_DONE


def read_evaluation(body: Mapping[str, Any], into: Evaluation, max_fields: int) -> None:
    status = body.get("status")
    if not isinstance(status, str) or not status:
        raise ValueError("evaluation set run has no status")
    into.status = status if status.replace("_", "").isalnum() and len(status) <= 40 else OTHER
    into.evaluation_set_id = _text(body.get("evaluationSetId"))
    entity, version, metrics = (_object(body.get(key)) for key in ("entity", "entityVersion", "metrics"))
    into.entity_id = _text(entity.get("id"))
    into.entity_version = _text(version.get("version"))
    kind = metrics.get("type")
    if isinstance(kind, str) and kind in ENTITY_TYPES.values():
        into.entity_type = kind
    else:  # the documents disagree on whether `metrics` says its type: the entity does
        into.entity_type = ENTITY_TYPES.get(_text(entity.get("object")), "")
    into.scores = _scores(metrics, max_fields)
    into.files = {k: v for k, v in _files(metrics).items() if v is not None}
    into.pages = number(metrics.get("numPages"))
    into.latency = {
        q: ms / 1000 for q, key in QUANTILES if (ms := number(metrics.get(key))) is not None and ms >= 0
    }


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _files(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    processed = number(metrics.get("numFilesProcessed"))
    return {
        "total": number(metrics.get("numFilesTotal")),
        "processed": processed if processed is not None else number(metrics.get("numFiles")),
    }


def _scores(metrics: Mapping[str, Any], max_fields: int) -> dict[tuple[str, str], float]:
    scores = {(m, ""): v for m in SCORE_METRICS if (v := _ratio(metrics.get(m))) is not None}
    per_field = metrics.get("fieldMetrics")
    if isinstance(per_field, Mapping):
        scores.update(_capped(per_field, ("accuracy",), max_fields))
    per_class = metrics.get("classificationMetrics")
    if isinstance(per_class, Mapping):
        scores.update(_capped(per_class, ("precision", "recall", "f1"), max_fields))
    return scores


def _capped(
    rows: Mapping[str, Any], metrics: tuple[str, ...], max_fields: int
) -> dict[tuple[str, str], float]:
    names = sorted(n for n in rows if isinstance(n, str) and isinstance(rows[n], Mapping))
    kept = [n for n in names if len(n) <= MAX_FIELD_LEN and n != OTHER][:max_fields]
    out = {(m, n): v for n in kept for m in metrics if (v := _ratio(rows[n].get(m))) is not None}
    rest = [rows[n] for n in names if n not in set(kept)]
    if rest:
        out.update({(m, OTHER): v for m, v in _pooled(rest, metrics).items()})
    return out


def _pooled(rows: list[Mapping[str, Any]], metrics: tuple[str, ...]) -> dict[str, float]:
    """Scores of fields past the cap, from their summed counts."""

    def total(key: str) -> float:
        return sum(number(r.get(key)) or 0.0 for r in rows)

    out: dict[str, float] = {}
    if "accuracy" in metrics and total("countExpected"):
        out["accuracy"] = total("countAccurate") / total("countExpected")
    if "precision" in metrics and total("countPredicted"):
        out["precision"] = total("countCorrect") / total("countPredicted")
    if "recall" in metrics and total("countExpected"):
        out["recall"] = total("countCorrect") / total("countExpected")
    if "f1" in metrics and out.get("precision") and out.get("recall"):
        p, r = out["precision"], out["recall"]
        out["f1"] = 2 * p * r / (p + r)
    return out


def _ratio(value: Any) -> float | None:
    ratio = number(value)
    return ratio if ratio is not None and 0.0 <= ratio <= 1.0 else None


class Evaluations:
    """The watched evaluation set runs of a workspace, read by `poll` (at its host kind's sync)."""

    def __init__(
        self,
        client: ApiClient,
        ids: Iterable[str] = (),
        *,
        max_fields: int = 25,
        unknown: Reporter | None = None,
    ) -> None:
        self.client = client
        self.unknown = unknown or alone()
        self.max_fields = max_fields
        self._lock = threading.Lock()
        self.runs: dict[str, Evaluation] = {i: Evaluation(i) for i in dict.fromkeys(ids)}

    def watch(self, run_id: str) -> None:
        with self._lock:
            self.runs.setdefault(run_id, Evaluation(run_id))

    def poll(self) -> None:
        with self._lock:
            due = [e for e in self.runs.values() if not e.final]
        for evaluation in due:
            was_done = evaluation.done
            body = self._get(evaluation.id)
            with self._lock:
                if body is None:
                    self.unknown.not_known("evaluation set run", evaluation.id)
                    self.runs.pop(evaluation.id, None)
                    continue
                try:
                    self._read(body, evaluation)
                except ValueError as exc:
                    raise ApiError("bad_response", f"{EVALUATION_SET_RUNS}: {exc}") from None
                evaluation.final = was_done and evaluation.done

    def _get(self, run_id: str) -> dict[str, Any] | None:
        endpoints = (EVALUATION_SET_RUNS, BATCH_PROCESSOR_RUNS)
        for endpoint in endpoints if self.client.api_version == API_2026 else endpoints[1:]:
            try:
                return {
                    "endpoint": endpoint,
                    **self.client.get_object(endpoint.replace("{id}", run_id), endpoint),
                }
            except ApiError as exc:
                if exc.status != 404:
                    raise
        return None

    def _read(self, body: dict[str, Any], into: Evaluation) -> None:
        if body.pop("endpoint") == EVALUATION_SET_RUNS:
            read_evaluation(body, into, self.max_fields)
            return
        reading = read_batch(body)  # the legacy shape: status, files and pages only
        into.status = reading.status
        into.files = {"processed": reading.files} if reading.files is not None else {}
        into.pages = reading.pages

    def snapshot(self) -> list[Evaluation]:
        with self._lock:
            return [
                Evaluation(**{**e.__dict__, "scores": dict(e.scores), "files": dict(e.files)})
                for e in sorted(self.runs.values(), key=lambda e: e.id)
                if e.status is not None
            ]
