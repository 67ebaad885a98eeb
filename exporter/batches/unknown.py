"""IDs that every workspace of the exporter tries (EXTEND_EXPORTER_BATCH_IDS,
EXTEND_EXPORTER_EVALUATION_RUN_IDS, batch webhooks): an ID belongs to one workspace and nothing says
which, so one workspace not knowing it is expected (a debug line); only when none of them knows it is
it worth a warning, once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

log = logging.getLogger("exporter.batches")

# IDs remembered as unknown somewhere but not yet everywhere (a batch of one workspace stays so for good):
# past this many the oldest is forgotten, so months of batch webhooks do not grow memory.
MAX_REMEMBERED = 10_000


class UnknownIds:
    """Shared by the workspaces; each reports through its own `Reporter`."""

    def __init__(self, workspaces: Iterable[str | None]) -> None:
        self._workspaces = frozenset(workspaces)
        self._lock = threading.Lock()
        self._not_known_in: dict[str, set[str | None]] = {}

    def reporter(self, workspace: str | None) -> Reporter:
        return Reporter(self, workspace)

    def _not_known(self, workspace: str | None, what: str, item_id: str) -> None:
        with self._lock:
            where = self._not_known_in.setdefault(item_id, set())
            warn = workspace not in where and len(where) + 1 == len(self._workspaces)
            where.add(workspace)
            if warn:
                del self._not_known_in[item_id]
            elif len(self._not_known_in) > MAX_REMEMBERED:
                del self._not_known_in[next(iter(self._not_known_in))]
        if not warn:
            log.debug("%s %s: not in workspace %s", what, item_id, workspace)
        elif len(self._workspaces) == 1:
            log.warning("%s %s: the API knows no such %s; not watched", what, item_id, what)
        else:
            log.warning("%s %s: unknown in every workspace; not watched", what, item_id)


class Reporter:
    def __init__(self, ids: UnknownIds, workspace: str | None) -> None:
        self._ids = ids
        self._workspace = workspace

    def not_known(self, what: str, item_id: str) -> None:
        """This workspace's API answered that it knows no `what` (e.g. "batch") of ID `item_id`."""
        self._ids._not_known(self._workspace, what, item_id)


def alone() -> Reporter:
    """The reporter of an exporter with one workspace."""
    return UnknownIds([None]).reporter(None)
