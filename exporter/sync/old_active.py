"""Creation-ordered listings (`/parse_runs`, which cannot be sorted): active runs created before
the scan window, re-observed at a cost free of history.

A creation-ordered scan would have to read down to the oldest active run on every sync (one stuck
run makes each sync read everything created since). Instead the status-filtered listings of the
active statuses (they hold only active runs) say which old runs are still active, and one missing
from them and from the scan has left the active set:

- departed runs of a batch (their summaries carry `batchId`) are read again with one `?batchId=`
  listing per batch: a queue of 1,000 runs draining costs one request per sync, not one per run that
  finished. When every old active run belongs to a batch, and there are no more batches than active
  statuses, those listings replace the active listings altogether;
- the others are looked up by file name or in the terminal-status listings (departures.py).

Why this and what it costs: docs/design.md, "Runs stuck for weeks".
"""

from __future__ import annotations

from ..engine.kind_state import KindState
from ..engine.observation import Observation
from ..kinds import ACTIVE_STATUSES
from .departures import find_departed
from .listings import Listings


def reobserve_old_active(
    listings: Listings,
    state: KindState,
    seen: dict[str, Observation],
    bound: float,
    *,
    listed_active: bool,
) -> tuple[set[str], dict[str, set[str]]]:
    """Merge into `seen` the latest state of every tracked active run created before `bound`.

    `listed_active`: the active statuses were already listed in this sync (a reconcile). Returns the
    runs no listing returns any more (deleted: they leave the active set), and the batches read in
    full here with the ids of their runs.
    """
    old = state.active_created_before(bound)
    state.prune_lookups(rid for rid, obs in seen.items() if obs.status in ACTIVE_STATUSES)
    if not old:
        return set(), {}
    batch_of = state.batch_of if state.spec.batch_filter else lambda _rid: None
    batches = {b for b in map(batch_of, old) if b is not None}
    listed: dict[str, set[str]] = {}
    if None in map(batch_of, old) or len(batches) > len(state.spec.active_statuses):
        if not listed_active:
            listings.read_active(seen)
        batches = {b for rid in old if rid not in seen and (b := batch_of(rid)) is not None}
    for batch in sorted(batches):
        listed[batch] = listings.read_batch(seen, batch)
    departed = {rid: created for rid, created in old.items() if rid not in seen}
    return find_departed(listings, state, seen, departed), listed
