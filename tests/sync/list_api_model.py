"""A tiny, pure, in-memory model of one Extend run list, for property-based tests of the sync.

It answers `iter_pages(spec, params)` the way `KindSyncer` calls the real `ApiClient`: an offset cursor
over a listing ordered newest first (by updatedAt, or by createdAt for the parse_run variant; or oldest
first, an order the sync cannot exploit), with the `status`, `source`, `batchId` and
`fileNameContains` filters (summaries of a kind that carries `batchId` show it). Between two page
reads a hook may change the world (hypothesis decides what), so runs move between pages exactly as
they do under a real cursor. It keeps its own ground truth
in the exporter's label semantics: created/finished events since counting began, and active runs now.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from exporter.api.client import ApiError, Page
from exporter.kinds import UNKNOWN_SOURCE, KindSpec, is_active_status

ListOrder = Literal["updated", "created", "created_asc"]  # newest first, but for the last
NEW_SOURCE = "SOURCE_FROM_THE_FUTURE"  # a source enum value newer than the exporter


@dataclass
class ModelRun:
    id: str
    created: float
    updated: float
    status: str
    source: str
    batch: str | None = None


class ModelApi:
    def __init__(
        self,
        spec: KindSpec,
        order: ListOrder = "updated",
        *,
        duplicate_first: bool = False,
        file_names: bool = False,
    ) -> None:
        self.spec = spec
        self.order = order
        self.duplicate_first = duplicate_first  # each page repeats its first item (duplicates)
        # Summaries carry file {name} (a few shared names, so a fileNameContains listing holds several
        # runs) and listings take `fileNameContains`; otherwise summaries have no file at all.
        self.file_names = file_names
        self.runs: dict[str, ModelRun] = {}
        self.now = 1_800_000_000.0
        self.requests = 0
        self.fail_at: int | None = None  # request number from which requests fail (a sync failure)
        self.between_pages: Callable[[], None] | None = None
        self.counting = False
        self.created: Counter[tuple[str, str]] = Counter()
        self.finished: Counter[tuple[str, str, str]] = Counter()
        self._seq = 0

    # --- the world ---------------------------------------------------------------------------------

    @property
    def created_runs(self) -> int:
        """How many runs were created so far: run ids up to run_<that number> exist or existed."""
        return self._seq

    def label(self, source: str) -> str:
        if not self.spec.sources:
            return ""
        return source if source in self.spec.sources else UNKNOWN_SOURCE

    def create(self, status: str, source: str, batch: str | None = None) -> ModelRun:
        self._seq += 1
        run = ModelRun(f"run_{self._seq:06d}", self.now, self.now, status, source, batch)
        self.runs[run.id] = run
        if self.counting:
            key = (self.label(source), self.spec.processor_type)
            self.created[key] += 1
            if not is_active_status(status):
                self.finished[(status, *key)] += 1
        return run

    def transition(self, run_id: str, status: str) -> None:
        run = self.runs[run_id]
        assert is_active_status(run.status), "terminal statuses are final in this model"
        run.status = status
        run.updated = self.now
        if self.counting and not is_active_status(status):
            self.finished[(status, self.label(run.source), self.spec.processor_type)] += 1

    def touch(self, run_id: str) -> None:
        """An update without a status change (e.g. a run marked reviewed): only updatedAt moves."""
        self.runs[run_id].updated = self.now

    def delete(self, run_id: str) -> None:
        del self.runs[run_id]

    def active_ids(self) -> list[str]:
        return sorted(rid for rid, r in self.runs.items() if is_active_status(r.status))

    def active(self) -> Counter[tuple[str, str, str]]:
        out: Counter[tuple[str, str, str]] = Counter()
        for run in self.runs.values():
            if is_active_status(run.status):
                out[(run.status, self.label(run.source), self.spec.processor_type)] += 1
        return out

    # --- the API -----------------------------------------------------------------------------------

    def _listing(self, params: Mapping[str, str | int]) -> list[ModelRun]:
        status = params.get("status")
        source = params.get("source")
        batch = params.get("batchId")
        name = params.get("fileNameContains") if self.file_names else None
        runs = [
            r
            for r in self.runs.values()
            if (status is None or r.status == status)
            and (source is None or r.source == source)
            and (batch is None or r.batch == batch)
            and (name is None or str(name) in _file_name(r))
        ]
        if self.order == "created":
            runs.sort(key=lambda r: (r.created, r.id), reverse=True)
        elif self.order == "created_asc":
            runs.sort(key=lambda r: (r.created, r.id))
        else:
            runs.sort(key=lambda r: (r.updated, r.id), reverse=True)
        return runs

    def _summary(self, run: ModelRun) -> dict[str, object]:
        summary: dict[str, object] = {
            "object": self.spec.name,
            "id": run.id,
            "status": run.status,
            "createdAt": _rfc3339(run.created),
            "updatedAt": _rfc3339(run.updated),
        }
        if self.file_names:
            summary["file"] = {"object": "file", "name": _file_name(run)}
        if self.spec.batch_in_summary:
            summary["batchId"] = run.batch
        return summary

    def iter_pages(self, spec: KindSpec, params: Mapping[str, str | int]) -> Iterator[Page]:
        assert spec is self.spec
        size = int(params["maxPageSize"])
        offset = 0
        while True:
            if offset and self.between_pages is not None:
                self.between_pages()  # the world moves under the cursor
            self.requests += 1
            if self.fail_at is not None and self.requests >= self.fail_at:
                raise ApiError("server_error", f"{spec.path}: HTTP 500 (injected)", 500)
            listing = self._listing(params)
            items = [self._summary(r) for r in listing[offset : offset + size]]
            if self.duplicate_first and items:
                items.insert(1, dict(items[0]))
            offset += size
            token = f"o:{offset}" if offset < len(listing) else None
            yield Page(items, token)
            if token is None:
                return


def _file_name(run: ModelRun) -> str:
    return f"doc_{int(run.id.rsplit('_', 1)[1]) % 5}.pdf"


def _rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")
