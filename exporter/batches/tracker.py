"""A workspace's batch tracker: its batch book, the poller that reads batches after each sync of a kind,
and its evaluation set runs; what the workspace calls (`after_sync`, `watch_batch`) and keeps (the
state file's batches section)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..api.client import ApiError
from .book import BatchBook, BatchSnapshot
from .evaluations import Evaluation, Evaluations
from .poller import BatchPoller

log = logging.getLogger("exporter.batches")


class BatchTracker:
    def __init__(self, book: BatchBook, poller: BatchPoller, evaluations: Evaluations) -> None:
        self.book = book
        self.poller = poller
        self.evaluations = evaluations

    def after_sync(self, kind: str, position: float | None) -> None:
        """The sync of `kind` listed what it lists: read what it owes the batches (and, at the host
        kind, the evaluation set runs). A batch read that fails for good does not fail the runs' sync
        (its counts stand): the batches are read again at the next one. Raises Cancelled."""
        try:
            self.poller.poll(kind)
            if kind == self.poller.host:
                self.evaluations.poll()
        except ApiError as exc:
            log.warning("%s: batches not read in this sync, read at the next (%s)", kind, exc)
        self.book.counting_began(position)

    def watch_batch(self, kind: str, batch_id: str) -> None:
        """Track `batch_id`, a batch of `kind` as far as the caller knows (a webhook's
        `batch_parse_run.*` says parse_run; a `batch_processor_run.*` event names no run type, and is
        passed on once per processor kind: the batch is resolved from the API)."""
        self.book.watch(batch_id, (kind,))

    def watch_evaluation_run(self, run_id: str) -> None:
        self.evaluations.watch(run_id)

    def snapshot(self) -> tuple[BatchSnapshot, list[Evaluation]]:
        return self.book.snapshot(), self.evaluations.snapshot()

    def to_dict(self) -> dict[str, Any]:
        return self.book.to_dict()

    def load_dict(self, data: Mapping[str, Any]) -> None:
        """Restore the batches section; one that cannot be read starts batches afresh (runs keep theirs)."""
        try:
            self.book.load_dict(data)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            log.warning("batches section of the state file ignored (%s); batches start afresh", exc)
