"""What a sync of one kind reads about batches, after its listings: the batches of that kind still
active, once each (their status), and a batch's runs only when the syncs cannot see them all.

Per sync of a kind, each of its active batches costs one request (`GET /batch_runs/{id}`, or the
legacy `GET /batch_processor_runs/{id}`; workflow batches none: their status comes from their runs).
A batch's runs are listed once when it is found without them all in sight (found from an old run, an
ID from a setting or a webhook, after a restart), and at every read when its kind is not synced here
(nothing else sees its runs). Batches of kinds not synced, unresolved IDs and the evaluation set runs
are read by the sync of one kind of the workspace, its host kind (the first).
"""

from __future__ import annotations

import logging

from .book import BatchBook, Due
from .reader import BatchReader
from .unknown import Reporter, alone

log = logging.getLogger("exporter.batches")


class BatchPoller:
    def __init__(
        self, book: BatchBook, reader: BatchReader, synced: tuple[str, ...], unknown: Reporter | None = None
    ) -> None:
        self.book = book
        self.unknown = unknown or alone()
        self.reader = reader
        self.synced = frozenset(synced)
        self.host = synced[0] if synced else ""

    def poll(self, kind: str) -> None:
        """Read what the sync of `kind` owes its batches; raises what a request raises (a 404 only
        ends a batch's tracking)."""
        for due in self.book.due(kind, host=kind == self.host, synced=self.synced):
            self._read(due)
        self.book.settle()

    def _read(self, due: Due) -> None:
        kind, endpoint, reading = due.kind, due.endpoint, None
        if kind is None:
            resolved = self.reader.resolve(due.id, due.candidates)
            if resolved is None:
                self.unknown.not_known("batch", due.id)
                self.book.resolve(due.id, None)
                return
            if resolved.kind is None:
                return  # a batch run none of whose runs is listed yet: next time
            kind, reading = resolved.kind, resolved.reading
            self.book.resolve(due.id, kind)
            endpoint = self.book.endpoint(due.id)
        if endpoint is not None:
            reading = reading or self.reader.status(due.id, endpoint)
            if reading is None:
                log.warning("batch %s: no longer known to the API; not tracked", due.id)
                self.book.resolve(due.id, None)
                return
            self.book.read(due.id, reading)
        if due.needs_listing or kind not in self.synced:
            runs = self.reader.runs(kind, due.id)
            if runs is None:
                self.book.unlistable(due.id)
            else:
                self.book.listed(due.id, runs)
