"""Old active runs of a creation-ordered kind that left the active listings: found again in their new
state, or known deleted.

Each is looked up by a listing narrowed with `fileNameContains=<its file name>` (names are kept in the
state, so across restarts too), read down to its creation by updatedAt (exact in either descending
order); runs that share a name share that listing. When more names are wanted at once than there
are terminal statuses, the terminal-status listings are read first, newest first, down to the oldest
departure: a page of them holds up to 1,000 departures, where each name costs a listing of its own
(more than one page when many runs share the name, `scan.pdf`). They are read while they cost less
than a listing per wanted name, or find a departure per page; whatever they did not find is looked
up by name, so the sync never pays much more than the cheaper way, and stays exact whichever way it
goes (a status the filter does not take, CANCELLED parse runs, is found by name). A run with no known
name is found by reading the listing down to it.
"""

from __future__ import annotations

import logging

from ..engine.kind_state import KindState
from ..engine.observation import Observation
from .listings import Listings, merge
from .scan import MIN_SCAN_PAGE

log = logging.getLogger("exporter.sync")  # one logger for the whole sync, as log lines always named it


def find_departed(
    listings: Listings, state: KindState, seen: dict[str, Observation], departed: dict[str, float]
) -> set[str]:
    """Merge the departed runs (id -> createdAt) into `seen`; returns those no listing holds (deleted)."""
    by_name: dict[str, dict[str, float]] = {}
    unnamed: dict[str, float] = {}
    for rid, created in departed.items():
        name = state.file_name(rid)
        if name is None:
            unnamed[rid] = created
        else:
            by_name.setdefault(name, {})[rid] = created
    statuses = state.spec.terminal_filter_statuses
    if len(by_name) > len(statuses):  # more name listings than one page per terminal status
        named = {rid: c for group in by_name.values() for rid, c in group.items()}
        found = _read_terminal(listings, seen, named, statuses, budget=len(by_name))
        for group in by_name.values():
            for rid in found.intersection(group):
                del group[rid]
    vanished: set[str] = set()
    for name, group in by_name.items():
        if group:
            vanished.update(_find_by_name(listings, seen, name, group))
    if unnamed:
        vanished.update(_read_down_to(listings, seen, unnamed))
    return vanished


def _read_terminal(
    listings: Listings,
    seen: dict[str, Observation],
    wanted: dict[str, float],
    statuses: tuple[str, ...],
    *,
    budget: int,
) -> set[str]:
    """Read each terminal-status listing down to the oldest wanted run while the requests stay under
    `budget` (what the name lookups would cost at least) or each page finds a wanted run; the ids found."""
    floor = min(wanted.values())
    found: set[str] = set()
    total = 0
    for status in statuses:
        hits = 0
        for spent, items in enumerate(listings.pages(listings.params(status=status)), 1):
            total += 1
            for obs in items:
                if obs.id in wanted and obs.id not in found:
                    merge(seen, obs)
                    found.add(obs.id)
                    hits += 1
            if len(found) == len(wanted):
                return found
            if (items and items[-1].updated_at < floor) or (total >= budget and spent > hits):
                break
    return found


def _find_by_name(
    listings: Listings, seen: dict[str, Observation], name: str, group: dict[str, float]
) -> set[str]:
    """The runs of `group` (one file name) from its narrowed listing; returns those it does not hold."""
    left = dict(group)
    floor = min(group.values())
    for items in listings.pages(listings.params(MIN_SCAN_PAGE, fileNameContains=name)):
        for obs in items:
            if left.pop(obs.id, None) is not None:
                merge(seen, obs)
        if not left or (items and items[-1].updated_at < floor):
            break
    return set(left)


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
