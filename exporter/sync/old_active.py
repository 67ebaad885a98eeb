"""Creation-ordered listings (`/parse_runs`, which cannot be sorted): active runs created before
the scan window, re-observed at a cost free of history.

A creation-ordered scan would have to read down to the oldest active run on every sync (one stuck
run makes each sync read everything created since). Instead the status-filtered listings of the
active statuses (they hold only active runs) say which old runs are still active; one missing from
them and from the scan has left the active set, and is looked up by a listing narrowed with
`fileNameContains=<its file name>` (names are kept in the state, so across restarts too), read down
to its creation by updatedAt (exact in either descending order). Why this and what it costs:
docs/design.md, "Runs stuck for weeks".
"""

from __future__ import annotations

import logging

from ..engine.kind_state import KindState
from ..engine.observation import Observation
from ..kinds import ACTIVE_STATUSES
from .listings import Listings, merge
from .scan import MIN_SCAN_PAGE

log = logging.getLogger("exporter.sync")  # one logger for the whole sync, as log lines always named it


def reobserve_old_active(
    listings: Listings,
    state: KindState,
    seen: dict[str, Observation],
    bound: float,
    *,
    listed_active: bool,
) -> set[str]:
    """Merge into `seen` the latest state of every tracked active run created before `bound`.

    `listed_active`: the active statuses were already listed in this sync (a reconcile). Returns the
    runs no listing returns any more (deleted): they leave the active set.
    """
    old = state.active_created_before(bound)
    state.prune_file_names(rid for rid, obs in seen.items() if obs.status in ACTIVE_STATUSES)
    if not old:
        return set()
    if not listed_active:
        listings.read_active(seen)
    departed = {rid: created for rid, created in old.items() if rid not in seen}
    vanished: set[str] = set()
    unnamed: dict[str, float] = {}
    for rid, created in departed.items():
        name = state.file_name(rid)
        if name is None:
            unnamed[rid] = created
        elif not _find_by_name(listings, seen, rid, name, created):
            vanished.add(rid)
    if unnamed:
        vanished.update(_read_down_to(listings, seen, unnamed))
    return vanished


def _find_by_name(
    listings: Listings, seen: dict[str, Observation], rid: str, name: str, created: float
) -> bool:
    for items in listings.pages(listings.params(MIN_SCAN_PAGE, fileNameContains=name)):
        for obs in items:
            if obs.id == rid:
                merge(seen, obs)
                return True
        if items and items[-1].updated_at < created:
            break
    return False


def _read_down_to(listings: Listings, seen: dict[str, Observation], unnamed: dict[str, float]) -> set[str]:
    """Departed runs whose file name is unknown (a null file, or a state file from before names were
    kept): read the listing down to the oldest of them. Exact, costly, once per such departure,
    logged. Returns those no page held."""
    log.info(
        "%s: %d departed run(s) with no known file name; reading down to them",
        listings.spec.name,
        len(unnamed),
    )
    floor = min(unnamed.values())
    for items in listings.pages(listings.params()):
        for obs in items:
            merge(seen, obs)
        if items and items[-1].updated_at < floor:
            break
    return {rid for rid in unnamed if rid not in seen}
