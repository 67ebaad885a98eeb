"""The scan: a kind's listing read newest first down to the window, then re-read from the top.

With cursor pagination a run updated while we page moves to the top, onto a page already read. So
when the scan took more than one page it is re-read from the top down to the scan's first item; a
re-read that fits in one page is atomic, so after it every run changed since the last sync is known
in its latest state. Re-reads repeat (bounded) until one fits in one page.

A creation-ordered scan (`/parse_runs`) stops only at a run older than the bound by updatedAt too,
so it is exact whichever descending order the listing really has (a short prefix of the listing
cannot always tell the two apart).
"""

from __future__ import annotations

import logging
import math

from ..engine.kind_state import KindState
from ..engine.observation import Observation
from ..kinds import Order
from .listings import Listings, merge

log = logging.getLogger("exporter.sync")  # one logger for the whole sync, as log lines always named it

# Smallest page the scan asks for, so a quiet kind still stops after one request.
MIN_SCAN_PAGE = 100


class Scanner:
    """Scans of one kind; remembers how many runs the last scan found inside its window."""

    def __init__(self, state: KindState, listings: Listings, max_rereads: int) -> None:
        self.state = state
        self.listings = listings
        self.max_rereads = max_rereads
        self._last_in_window = 0
        self.rereads = 0  # re-reads from the top in this sync
        self.settled = True  # False: the list kept changing under every re-read; a run may be missed

    def begin(self) -> None:
        """A new sync: its re-reads are counted from 0."""
        self.rereads = 0
        self.settled = True

    def top_key(self) -> float | None:
        """The order key of the newest run (one one-run page): where a baseline's window ends."""
        params = self.listings.params()
        params["maxPageSize"] = 1
        for items in self.listings.pages(params):
            return self.state.order_key(items[0]) if items else None
        return None

    def bound(self, probe_top: float | None, overlap: float) -> float:
        """The order key the scan reads down to: the window of the last sync (at a baseline, the
        newest run's key minus the overlap); -inf when the listing has no usable order."""
        state = self.state
        order = state.effective_order
        if order is Order.NONE:
            return -math.inf
        start = state.window
        if start is None:
            start = probe_top - overlap if probe_top is not None else -math.inf
        if order is Order.CREATED and state.window is None:
            # Baseline: no ledger yet, so no active run to re-observe; the reconcile listings of the
            # baseline hold every active run. Later syncs re-observe old ones: old_active.py.
            oldest = state.oldest_active_key()
            if oldest is not None:
                start = min(start, oldest)
        return start

    def scan(self, seen: dict[str, Observation], bound: float) -> tuple[float | None, int]:
        """Read down to `bound`: (the first run's key, pages read)."""
        top, pages, self._last_in_window = self._read_down(seen, bound)
        return top, pages

    def reread(self, seen: dict[str, Observation], top: float) -> None:
        """Re-read from the top down to `top` (the scan's first key) until a re-read fits one page."""
        for _ in range(self.max_rereads):
            self.rereads += 1
            first, pages, _ = self._read_down(seen, top)
            if pages <= 1 or first is None:
                return
            top = first
        self.settled = False
        log.info(
            "%s: the list kept changing under %d re-reads; keeping the window open",
            self.state.spec.name,
            self.max_rereads,
        )

    def _page_size(self) -> int:
        """Pages sized to what the last scan found inside its window (with headroom), not to 1000:
        an idle sync then parses ~100 summaries instead of 1000 for the same single request. One
        listing keeps one size (the API warns against changing parameters between its pages)."""
        wanted = int(self._last_in_window * 1.5) + 50
        return min(self.listings.page_size, max(MIN_SCAN_PAGE, -(-wanted // 50) * 50))

    def _read_down(self, seen: dict[str, Observation], bound: float) -> tuple[float | None, int, int]:
        """Page from the top until a page reaches below `bound`: (first key, pages, runs in window)."""
        key = self.state.order_key
        top: float | None = None
        pages = in_window = 0
        for items in self.listings.pages(self.listings.params(self._page_size())):
            pages += 1
            if items and top is None:
                top = key(items[0])
            for obs in items:
                merge(seen, obs)
                if key(obs) >= bound:
                    in_window += 1
            # updatedAt >= createdAt, so in updatedAt order this is the key itself (module docstring).
            if items and items[-1].updated_at < bound:
                break
        return top, pages, in_window
