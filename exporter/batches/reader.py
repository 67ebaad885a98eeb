"""The requests of the batch families: a batch's status by ID, its runs, and what an ID is.

An ID from a setting or a webhook says little: `bpr_…` is a batch run of extract, classify or split
runs (`GET /batch_runs/{id}`) or a legacy batch processor run (`GET /batch_processor_runs/{id}`);
`batch_…` and `bpar_…` (examples, not rules) a workflow or a parse batch. It is resolved once: the
batch-run endpoint, then a one-run listing per candidate kind (`?batchId=`, which says whose runs they
are), then the legacy endpoint, then a workflow listing; an ID none of them knows is not a batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..api.client import ApiClient, ApiError
from ..engine.observation import Observation
from ..kinds import API_2026, KINDS
from ..sync.summaries import SummaryError, observation
from .records import BATCH_PROCESSOR_RUNS, BATCH_RUN_KINDS, BATCH_RUNS, BatchReading, read_batch

log = logging.getLogger("exporter.batches")


@dataclass(frozen=True)
class Resolved:
    kind: str | None  # None: not known yet (a batch run none of whose runs is listed yet)
    reading: BatchReading | None


class BatchReader:
    def __init__(self, client: ApiClient, page_size: int = 1000) -> None:
        self.client = client
        self.page_size = page_size

    def status(self, batch_id: str, endpoint: str) -> BatchReading | None:
        """The batch as its endpoint describes it; None when the API knows no such batch (404)."""
        try:
            body = self.client.get_object(endpoint.replace("{id}", batch_id), endpoint)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        try:
            return read_batch(body)
        except SummaryError as exc:
            raise ApiError("bad_response", f"{endpoint}: {exc}") from None

    def runs(self, kind: str, batch_id: str, *, first_page: bool = False) -> list[Observation] | None:
        """The batch's runs (every page of its kind's listing filtered by the batch, or the first of
        one-run pages); None when the listing takes no such filter (400: `batchId` on 2025-04-21
        workflow runs is unsure)."""
        spec = KINDS[kind]
        assert spec.batch_filter is not None
        size = 1 if first_page else self.page_size
        params: dict[str, str | int] = {"maxPageSize": size, spec.batch_filter: batch_id}
        if spec.sortable:
            params.update(sortBy="updatedAt", sortDir="desc")
        out: list[Observation] = []
        try:
            for page in self.client.iter_pages(spec, params):
                for raw in page.items:
                    try:
                        out.append(observation(spec, raw, usage_tags=False))
                    except SummaryError:
                        continue  # the kind's syncs report invalid summaries
                if first_page:
                    break
        except ApiError as exc:
            if exc.status == 400:
                log.warning("%s: no %s filter; its batches' runs stay unknown", kind, spec.batch_filter)
                return None
            raise
        return out

    def resolve(self, batch_id: str, candidates: tuple[str, ...]) -> Resolved | None:
        """What `batch_id` is (None: no batch the API knows)."""
        wanted = set(candidates) or {*BATCH_RUN_KINDS, "processor_run", "workflow_run"}
        runs_kinds = [k for k in BATCH_RUN_KINDS if k in wanted]
        if batch_id.startswith("bpar_") and "parse_run" in runs_kinds:
            runs_kinds.remove("parse_run")
            runs_kinds.insert(0, "parse_run")
        if runs_kinds and self.client.api_version == API_2026:
            reading = self.status(batch_id, BATCH_RUNS)
            if reading is not None:
                kind = runs_kinds[0] if len(runs_kinds) == 1 else self._probe(batch_id, runs_kinds)
                return Resolved(kind, reading)
        if "processor_run" in wanted or not candidates or set(candidates) <= set(BATCH_RUN_KINDS):
            reading = self.status(batch_id, BATCH_PROCESSOR_RUNS)
            if reading is not None:
                return Resolved("processor_run", reading)
        if "workflow_run" in wanted and self._probe(batch_id, ["workflow_run"]):
            return Resolved("workflow_run", None)
        return None

    def _probe(self, batch_id: str, kinds: list[str]) -> str | None:
        """The first of `kinds` whose listing holds a run of the batch (a one-run page each)."""
        for kind in kinds:
            runs = self.runs(kind, batch_id, first_page=True)
            if runs:
                return kind
        return None
