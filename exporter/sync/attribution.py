"""Attribution: the source of each run that needs one, from source-filtered listings.

Summaries carry no `source` (verify summaries do: verify runs skip this). Runs that need one (new,
or active and not yet in the ledger) are looked up in source-filtered listings, newest first,
stopping as soon as all are found; active runs older than the scan window first in source- and
status-filtered listings of the active statuses. Runs no listing returns (a source value newer than
this exporter) are counted under source UNKNOWN.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping

from ..engine.kind_state import KindState
from ..engine.observation import Observation
from ..kinds import ACTIVE_STATUSES, Order
from .listings import Listings

log = logging.getLogger("exporter.sync")  # one logger for the whole sync, as log lines always named it

# Smallest page (and rounding step) of a source listing: most sources hold few of a round's new runs.
MIN_ATTRIBUTION_PAGE = 20


class Attribution:
    """Finds sources for one kind's syncs, in at most `rounds` passes over the source listings."""

    def __init__(self, state: KindState, listings: Listings, rounds: int) -> None:
        self.state = state
        self.spec = state.spec
        self.listings = listings
        self.rounds = rounds

    def find(self, need: set[str], seen: Mapping[str, Observation], scan_floor: float) -> dict[str, str]:
        """run id -> source for the runs of `need` (ids in `seen`) a listing returned.

        `scan_floor`: the order key the scan read down to; active runs below it are old.
        """
        sources = self._old_active(need, seen, scan_floor)
        remaining = need.difference(sources)
        if remaining:
            sources.update(self._by_source(remaining, seen))
        return sources

    def _by_source(self, need: set[str], seen: Mapping[str, Observation]) -> dict[str, str]:
        found: dict[str, str] = {}
        remaining = set(need)
        key = self.state.order_key
        weights = {s: self.state.source_weight(s) for s in self.spec.sources}
        ranked = sorted(self.spec.sources, key=lambda s: -weights[s])
        # In no usable order a run can be on any page of a source's listing: read it to the end.
        ordered = self.state.effective_order is not Order.NONE
        for _ in range(self.rounds):
            if not remaining:
                break
            oldest = min(key(seen[rid]) for rid in remaining)
            known, unknown = self._window_sources(seen, oldest)
            total = sum(weights.values())
            for source in ranked:
                if not remaining:
                    break
                # Runs of unknown source are expected in the proportions counted so far (all of them
                # when nothing is counted yet); a short guess costs one more page, not a miss.
                unknown_left = max(0, unknown - len(found))
                if total:
                    unknown_left = min(unknown_left, int(unknown_left * weights[source] / total * 1.5) + 1)
                size = self._page_size(known[source] + unknown_left)
                for items in self.listings.listed_pages(self.listings.params(size, source=source)):
                    for obs in items:
                        if obs.id in remaining:
                            found[obs.id] = source
                            remaining.discard(obs.id)
                    # By updatedAt, as the scan stops: exact in either descending order.
                    if not remaining or (ordered and items and items[-1].updated_at < oldest):
                        break
        if remaining:
            log.info(
                "%s: %d run(s) matched no known source; counted as UNKNOWN", self.spec.name, len(remaining)
            )
        return found

    def _old_active(self, need: set[str], seen: Mapping[str, Observation], floor: float) -> dict[str, str]:
        """Sources of active runs older than the scan window, from source- and status-filtered listings.

        Those listings hold only active runs, so this costs at most one request per (source, active
        status) pair while fewer than a page are active, at any history size; the source listings
        read by `_by_source` would instead reach down to the oldest such run (all of history below a
        run stuck for weeks). A run that changed status meanwhile is left to `_by_source`.
        """
        key = self.state.order_key
        old = {rid: seen[rid].status for rid in need if seen[rid].status in ACTIVE_STATUSES}
        old = {rid: st for rid, st in old.items() if key(seen[rid]) < floor}
        found: dict[str, str] = {}
        if not old:
            return found
        statuses = [st for st in self.spec.active_statuses if st in set(old.values())]
        ranked = sorted(self.spec.sources, key=lambda s: -self.state.source_weight(s))
        for source in ranked:
            for status in statuses:
                if len(found) == len(old):
                    return found
                for items in self.listings.pages(self.listings.params(source=source, status=status)):
                    for obs in items:
                        if obs.id in old:
                            found[obs.id] = source
        return found

    def _window_sources(self, seen: Mapping[str, Observation], oldest: float) -> tuple[Counter[str], int]:
        """Of the runs seen updated since `oldest` (what a source listing holds above its stop
        point): how many the ledger knows per source, and how many are of unknown source."""
        known: Counter[str] = Counter()
        unknown = 0
        for rid, obs in seen.items():
            if obs.updated_at >= oldest:
                source = self.state.source_of(rid)
                if source is None:
                    unknown += 1
                else:
                    known[source] += 1
        return known, unknown

    def _page_size(self, expected: int) -> int:
        """A source listing's page sized to the runs expected above the stop point (with headroom for
        runs that changed since the scan), not to 1000: the page is what costs bytes and CPU. In no
        usable order the whole listing is read, so fewer, larger pages are cheaper."""
        page_size = self.listings.page_size
        if self.state.effective_order is Order.NONE:
            return page_size
        wanted = int(expected * 1.25) + MIN_ATTRIBUTION_PAGE
        return min(page_size, -(-wanted // MIN_ATTRIBUTION_PAGE) * MIN_ATTRIBUTION_PAGE)
