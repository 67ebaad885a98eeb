"""JSON summaries per endpoint and API version, with exactly the fields of the real ones (EXTEND_API.md §2).

Only verify summaries carry ``source``/``sourceId``.  2026-02-09 summaries emit ``null`` for nullable fields;
the 2025-04-21 shapes (legacy processor runs, legacy workflow runs) omit optional fields that are unset.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import derive
from .batches import derive_status
from .catalog import Processor
from .clock import TimestampFormatter
from .enums import (
    FAILED,
    PROCESSED,
    PROCESSOR_TYPE,
    REJECTED,
    USAGE_TAGS_KEY,
)
from .model import Batch, Run
from .model import World as _World

JSON = dict[str, Any]
Renderer = Callable[[Run], JSON]

_FAMILY_OBJECT = {
    "extract": ("extractor", "extractorVersion", "extractor", "extractor_version", "extractorId"),
    "classify": ("classifier", "classifierVersion", "classifier", "classifier_version", "classifierId"),
    "split": ("splitter", "splitterVersion", "splitter", "splitter_version", "splitterId"),
}
_DASHBOARD = "https://dashboard.extend.ai"
_REVIEWERS = ("jane.doe@example.com", "sam.lee@example.com", "ops-review@example.com")


class Views:
    def __init__(
        self,
        world: _World,
        catalog: dict[str, list[Processor]],
        fmt: TimestampFormatter,
        shared_names: float = 0.0,
    ) -> None:
        self.world = world
        self.seed = world.seed
        self.catalog = catalog
        self.fmt = fmt
        self.shared_names = shared_names

    # -- shared fragments -------------------------------------------------------------------------
    def file_summary(self, run: Run) -> JSON:
        seed = self.seed
        ftype = derive.file_type(seed, run)
        meta: JSON = {"pageCount": derive.page_count(seed, run)} if ftype in ("PDF", "DOCX") else {}
        ts = self.fmt(run.created)
        return {
            "object": "file",
            "id": derive.file_id(seed, run),
            "name": derive.file_name(seed, run, self.shared_names),
            "type": ftype,
            "metadata": meta,
            "createdAt": ts,
            "updatedAt": ts,
        }

    def _usage(self, run: Run) -> JSON | None:
        if run.status != PROCESSED or run.credits is None:
            return None
        return {"credits": run.credits, "totalCredits": derive.total_credits(self.seed, run)}

    def _proc(self, run: Run) -> Processor:
        return self.catalog[run.fam][run.proc]

    def _processor_objects(self, p: Processor) -> tuple[JSON, JSON]:
        cached = p.cache.get("v2026")
        if cached is None:
            _, _, obj_tag, ver_tag, parent_key = _FAMILY_OBJECT[p.family]
            summary = {
                "object": obj_tag,
                "id": p.id,
                "name": p.name,
                "createdAt": self.fmt(p.created_ms),
                "updatedAt": self.fmt(p.updated_ms),
            }
            version = {
                "object": ver_tag,
                "id": p.version_id,
                "version": p.version,
                parent_key: p.id,
                "createdAt": self.fmt(p.updated_ms),
                "createdBy": {"type": "user", "email": "builder@example.com"},
            }
            cached = (summary, version)
            p.cache["v2026"] = cached
        out: tuple[JSON, JSON] = cached
        return out

    def _workflow_objects(self, p: Processor) -> tuple[JSON, JSON]:
        cached = p.cache.get("v2026")
        if cached is None:
            summary = {
                "object": "workflow",
                "id": p.id,
                "name": p.name,
                "createdAt": self.fmt(p.created_ms),
                "updatedAt": self.fmt(p.updated_ms),
                "createdBy": {"type": "user", "email": "builder@example.com"},
            }
            version = {
                "object": "workflow_version",
                "id": p.version_id,
                "version": p.version,
                "name": f"{p.name} v{p.version}",
                "createdAt": self.fmt(p.updated_ms),
                "createdBy": {"type": "api_key", "name": "ci-deploy"},
            }
            cached = (summary, version)
            p.cache["v2026"] = cached
        out: tuple[JSON, JSON] = cached
        return out

    def _failure(self, run: Run) -> tuple[str | None, str | None]:
        if run.status != FAILED:
            return None, None
        reason = derive.failure_reason(self.seed, run, self.world.failure_reasons)
        return reason, derive.failure_message(reason)

    def _metadata(self, run: Run) -> JSON | None:
        tags = derive.usage_tags(self.seed, run)
        return None if tags is None else {USAGE_TAGS_KEY: list(tags)}

    def _reviewer(self, run: Run) -> str:
        return _REVIEWERS[run.seq % len(_REVIEWERS)]

    # -- 2026-02-09 summaries ---------------------------------------------------------------------
    def processor_run_2026(self, run: Run) -> JSON:
        """extract_run / classify_run / split_run summary."""
        rid = self.world.run_id(run)
        p = self._proc(run)
        obj_name, ver_name, _, _, _ = _FAMILY_OBJECT[run.fam]
        summary, version = self._processor_objects(p)
        reason, message = self._failure(run)
        out: JSON = {
            "object": f"{run.fam}_run",
            "id": rid,
            obj_name: summary,
            ver_name: version,
            "status": run.status,
            "failureReason": reason,
            "failureMessage": message,
            "metadata": self._metadata(run),
            "reviewed": run.reviewed,
            "edited": False,
            "file": self.file_summary(run),
        }
        if run.fam == "extract":
            out["files"] = None
        out["parseRunId"] = derive.parse_run_id(self.seed, run) if run.started is not None else None
        out["dashboardUrl"] = f"{_DASHBOARD}/{obj_name}s/{p.id}/runs/{rid}"
        out["usage"] = self._usage(run)
        out["createdAt"] = self.fmt(run.created)
        out["updatedAt"] = self.fmt(run.updated)
        return out

    def parse_run_2026(self, run: Run) -> JSON:
        reason, message = self._failure(run)
        processed = run.status == PROCESSED
        metrics = None
        if processed:
            metrics = {
                "processingTimeMs": derive.processing_ms(run),
                "pageCount": float(derive.page_count(self.seed, run)),
            }
        return {
            "object": "parse_run",
            "id": self.world.run_id(run),
            "batchId": derive.batch_id(self.seed, run.fam, run.batch) if run.batch >= 0 else None,
            "file": self.file_summary(run),
            "status": run.status,
            "failureReason": reason,
            "failureMessage": message,
            "metadata": self._metadata(run),
            "metrics": metrics,
            "usage": self._usage(run),
            "createdAt": self.fmt(run.created),
            "updatedAt": self.fmt(run.updated),
        }

    def edit_run_2026(self, run: Run) -> JSON:
        reason, message = self._failure(run)
        metrics = None
        if run.status == PROCESSED:
            dur = derive.processing_ms(run)
            fields = 5 + run.seq % 30
            metrics = {
                "processingTimeMs": dur,
                "pageCount": derive.page_count(self.seed, run),
                "fieldCount": fields,
                "fieldsDetectedCount": fields,
                "fieldsAnnotatedCount": fields - run.seq % 3 if fields > 3 else fields,
                "fieldDetectionTimeMs": round(dur * 0.4, 1),
                "fieldAnnotationTimeMs": round(dur * 0.3, 1),
                "fieldFillingTimeMs": round(dur * 0.2, 1),
            }
        return {
            "object": "edit_run",
            "id": self.world.run_id(run),
            "file": self.file_summary(run),
            "status": run.status,
            "failureReason": reason,
            "failureMessage": message,
            "metrics": metrics,
            "usage": self._usage(run),
            "createdAt": self.fmt(run.created),
            "updatedAt": self.fmt(run.updated),
        }

    def verify_run_2026(self, run: Run) -> JSON:
        """The only run summary that carries its ``source`` (EXTEND_API.md §2.8); ``usage`` is a full
        RunUsage with ``breakdown`` (the parse it required; verify_run is no breakdown object)."""
        reason, message = self._failure(run)
        processed = run.status == PROCESSED
        metrics = None
        usage = None
        if processed:
            metrics = {
                "processingTimeMs": derive.processing_ms(run),
                "pageCount": derive.metrics_page_count(self.seed, run),
            }
            if run.credits is not None:
                pages = derive.page_count(self.seed, run)
                parse_credits = 0.25 * pages
                usage = {
                    "credits": run.credits,
                    "totalCredits": run.credits + parse_credits,
                    "breakdown": [
                        {
                            "object": "parse_run",
                            "id": derive.parse_run_id(self.seed, run),
                            "credits": parse_credits,
                            "charges": [
                                {
                                    "product": "parse_light",
                                    "unit": "page",
                                    "quantity": float(pages),
                                    "credits": parse_credits,
                                    "pages": list(range(1, pages + 1)),
                                }
                            ],
                        }
                    ],
                }
        return {
            "object": "verify_run",
            "id": self.world.run_id(run),
            "file": self.file_summary(run),
            "status": run.status,
            "riskLevel": derive.risk_level(self.seed, run) if processed else None,
            "failureReason": reason,
            "failureMessage": message,
            "metadata": self._metadata(run),
            "metrics": metrics,
            "config": {
                "engine": "verify_agentic",
                "engineVersion": "0.1.0",
                "advancedOptions": {"requireParsing": True},
            },
            "usage": usage,
            "source": run.source,
            "sourceId": derive.source_id(self.seed, run),
            "createdAt": self.fmt(run.created),
            "updatedAt": self.fmt(run.updated),
        }

    def workflow_run_2026(self, run: Run) -> JSON:
        rid = self.world.run_id(run)
        wf, ver = self._workflow_objects(self._proc(run))
        fmt = self.fmt
        reviewed = run.reviewed_at is not None
        return {
            "object": "workflow_run",
            "id": rid,
            "status": run.status,
            "workflow": wf,
            "workflowVersion": ver,
            "dashboardUrl": f"{_DASHBOARD}/workflows/{rid}",
            "reviewedByUser": self._reviewer(run) if reviewed else None,
            "reviewedAt": fmt(run.reviewed_at) if run.reviewed_at is not None else None,
            "initialRunAt": fmt(run.created),
            "startTime": fmt(run.started) if run.started is not None else None,
            "endTime": fmt(run.ended) if run.ended is not None else None,
            "batchId": derive.batch_id(self.seed, run.fam, run.batch) if run.batch >= 0 else None,
            "rejectionNote": "Invalid document format" if run.status == REJECTED else None,
            "files": [self.file_summary(run)],
            "createdAt": fmt(run.created),
            "updatedAt": fmt(run.updated),
            "usage": {"credits": run.credits, "totalCredits": run.credits}
            if run.status == PROCESSED and run.credits is not None
            else None,
        }

    # -- legacy shapes ----------------------------------------------------------------------------
    def processor_run_legacy(self, run: Run) -> JSON:
        p = self._proc(run)
        out: JSON = {
            "id": self.world.run_id(run),
            "status": run.status,
            "processorId": p.id,
            "processorName": p.name,
            "processorVersionId": p.version_id,
            "type": PROCESSOR_TYPE[run.fam],
            "createdAt": self.fmt(run.created),
            "updatedAt": self.fmt(run.updated),
        }
        if run.status == PROCESSED and run.credits is not None:
            out["usage"] = {"credits": run.credits}
        return out

    def workflow_run_legacy(self, run: Run) -> JSON:
        fmt = self.fmt
        p = self._proc(run)
        out: JSON = {"id": self.world.run_id(run), "status": run.status, "initialRunAt": fmt(run.created)}
        if run.reviewed_at is not None:
            out["reviewedByUser"] = self._reviewer(run)
            out["reviewedAt"] = fmt(run.reviewed_at)
        if run.started is not None:
            out["startTime"] = fmt(run.started)
        if run.ended is not None:
            out["endTime"] = fmt(run.ended)
        out["workflowId"] = p.id
        out["workflowName"] = p.name
        out["workflowVersionId"] = p.version_id
        if run.batch >= 0:
            out["batchId"] = derive.batch_id(self.seed, run.fam, run.batch)
        if run.status == REJECTED:
            out["rejectionNote"] = "Invalid document format"
        out["createdAt"] = fmt(run.created)
        out["updatedAt"] = fmt(run.updated)
        if run.status == PROCESSED and run.credits is not None:
            out["usage"] = {"credits": run.credits}
        return out

    # -- batches ----------------------------------------------------------------------------------
    def _batch_members(self, batch: Batch) -> list[Run]:
        runs = self.world.runs
        return [r for r in (runs[s] for s in batch.seqs) if r is not None]

    def batch_run(self, batch: Batch) -> JSON:
        return {
            "object": "batch_run",
            "id": derive.batch_id(self.seed, batch.fam, batch.index),
            "status": batch.status,
            "runCount": len(batch.seqs),
            "createdAt": self.fmt(batch.created),
        }

    def batch_processor_run(self, batch: Batch) -> JSON:
        """Any processor batch, as the legacy endpoint shows it (a batch run too: `source` STUDIO)."""
        members = self._batch_members(batch)
        p = self.catalog[batch.fam][batch.proc]
        updated = max((r.updated for r in members), default=batch.created)
        pages = sum(derive.page_count(self.seed, r) for r in members)
        source = batch.legacy_source or "STUDIO"
        out: JSON = {
            "object": "batch_processor_run",
            "id": derive.batch_id(self.seed, batch.fam, batch.index),
            "processorId": p.id,
            "processorVersionId": p.version_id,
            "processorName": p.name,
            "metrics": {"numFiles": float(len(batch.seqs)), "numPages": float(pages)},
            "status": derive_status(batch.counts, legacy=True),
            "source": source,
        }
        if source == "EVAL_SET":
            out["sourceId"] = derive.evaluation_set_id(self.seed, batch)
        elif source == "STUDIO":
            out["sourceId"] = p.id
        out.update(
            runCount=len(batch.seqs),
            options={},
            createdAt=self.fmt(batch.created),
            updatedAt=self.fmt(updated),
        )
        return {"success": True, "batchProcessorRun": out}
