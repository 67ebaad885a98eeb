"""One tracked batch: what it is (kind, endpoint), where it stands (status, its runs by status) and
what was counted of it; and how it goes to and from the state file.

Its runs' statuses are kept per run while it is tracked (a run that changes moves from one status to
another), but not in the state file: after a restart the batch's runs are listed once again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .records import NOT_DONE, BatchReading


@dataclass
class TrackedBatch:
    id: str
    kind: str | None  # None until resolved (an ID from a setting or a webhook says no kind)
    candidates: tuple[str, ...] = ()  # the kinds it may be, before it is resolved
    endpoint: str | None = None  # where its status is read; None: from its runs (workflow batches)
    status: str | None = None  # the endpoint's (or, for workflow batches, its runs') status; None: unread
    run_count: int | None = None
    created_at: float | None = None  # server time
    progress_at: float | None = None  # server time its runs last changed status
    source: str | None = None
    files: float | None = None
    pages: float | None = None
    seen_active: bool = False  # read in a status not done at least once
    counted: bool = False  # done: counted in extend_batches_finished_total (or finished before counting)
    finished_at: float | None = None  # the exporter's clock when done; retention runs from it
    needs_listing: bool = False  # its runs are not all known: list them once
    members: dict[str, str] = field(default_factory=dict)  # run id -> status label
    last_counts: dict[str, int] = field(default_factory=dict)  # by status, from before a restart

    @property
    def done(self) -> bool:
        return self.status is not None and self.status not in NOT_DONE

    def counts(self) -> dict[str, int]:
        if not self.members and self.needs_listing:
            return dict(self.last_counts)
        return dict(Counter(self.members.values()))

    def member(self, run_id: str, status: str, created_at: float, updated_at: float) -> None:
        """A run of the batch, in `status` as of `updated_at` (its runs share their creation)."""
        if self.members.get(run_id) != status:
            self.members[run_id] = status
            if self.progress_at is None or updated_at > self.progress_at:
                self.progress_at = updated_at
        if self.created_at is None or created_at < self.created_at:
            self.created_at = created_at

    def read(self, reading: BatchReading) -> None:
        """What the endpoint said, besides the status (book.py counts status changes)."""
        self.run_count = reading.run_count if reading.run_count is not None else self.run_count
        self.created_at = reading.created_at if reading.created_at is not None else self.created_at
        self.source = reading.source or self.source
        self.files = reading.files if reading.files is not None else self.files
        self.pages = reading.pages if reading.pages is not None else self.pages
        if reading.updated_at is not None and (
            self.progress_at is None or reading.updated_at > self.progress_at
        ):
            self.progress_at = reading.updated_at

    def finish_time(self) -> float | None:
        """When it ended, in server time: its runs' last change (or the endpoint's updatedAt)."""
        return self.progress_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "candidates": list(self.candidates),
            "endpoint": self.endpoint,
            "status": self.status,
            "run_count": self.run_count,
            "created_at": self.created_at,
            "progress_at": self.progress_at,
            "source": self.source,
            "files": self.files,
            "pages": self.pages,
            "seen_active": self.seen_active,
            "counted": self.counted,
            "finished_at": self.finished_at,
            "counts": self.counts(),
        }

    @classmethod
    def from_dict(cls, batch_id: str, data: Mapping[str, Any]) -> TrackedBatch:
        """Raises (KeyError, TypeError, ValueError) on a malformed entry."""

        def opt(key: str, kind: type) -> Any:
            value = data.get(key)
            return None if value is None else kind(value)

        return cls(
            id=str(batch_id),
            kind=opt("kind", str),
            candidates=tuple(map(str, data.get("candidates", ()))),
            endpoint=opt("endpoint", str),
            status=opt("status", str),
            run_count=opt("run_count", int),
            created_at=opt("created_at", float),
            progress_at=opt("progress_at", float),
            source=opt("source", str),
            files=opt("files", float),
            pages=opt("pages", float),
            seen_active=bool(data["seen_active"]),
            counted=bool(data["counted"]),
            finished_at=opt("finished_at", float),
            needs_listing=True,  # its runs' statuses are not kept: list them again
            last_counts={str(k): int(v) for k, v in data.get("counts", {}).items()},
        )
