"""One sync of one run kind: read what changed from the API and fold it into the engine.

The algorithm (see also engine.py for the counting rule):

1. Baseline (first sync, no state) and reconcile syncs list every active status in full, so the
   ledger starts with (or is corrected to) exactly the runs that are active. Runs missing from those
   listings and from the scan were deleted and leave the gauges.
2. The scan lists the kind newest first (`sortBy=updatedAt&sortDir=desc`) and stops at the first
   page that reaches past the last sync position minus the overlap. An idle kind costs one request.
3. With cursor pagination a run updated while we page moves to the top, onto a page we already read:
   we would miss it. So when the scan took more than one page, we re-read from the top down to the
   scan's first item; a re-read that fits in one page is atomic, so after it every run changed since
   the last sync is known in its latest state. Re-reads repeat (bounded) until one fits in one page.
4. Summaries carry no `source`. Runs that need one (new or active and not yet in the ledger) are
   looked up in source-filtered listings, newest first, stopping as soon as all are found; runs no
   listing returns (a source value newer than this exporter) are counted under source UNKNOWN.

`/parse_runs` cannot be sorted. The listing is checked page by page: newest-created first (what the
API is reported to do) is handled by scanning down to the last position minus overlap; active runs
created before that are re-observed through the active-status listings, and one that left them is
looked up by file name (`_reobserve_old_active`), so a run stuck for weeks does not make every sync
read everything created since; an updatedAt order is
handled as above; any other order falls back to reading the whole list each sync, which is exact but
costly, and is logged. A prefix of the listing cannot always tell the two descending orders apart
(a one-run page, runs created and updated in the same order), so a creation-order scan is made exact
under both: it stops only at a run older than the bound by updatedAt too (every run created or
updated since is above it in either order), and it re-reads like an updatedAt scan.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar

from .api import ApiClient
from .engine import ApplyResult, KindState, Observation
from .kinds import ACTIVE_STATUSES, KindSpec, Order
from .summaries import SummaryError, observation, parse_time

log = logging.getLogger(__name__)


# Smallest page the scan asks for, so a quiet kind still stops after one request.
MIN_SCAN_PAGE = 100
# Smallest page (and rounding step) of a source listing: most sources hold few of a round's new runs.
MIN_ATTRIBUTION_PAGE = 20


class _Ordered(Protocol):
    """What the order checks read of a listed run."""

    @property
    def id(self) -> str: ...
    @property
    def created_at(self) -> float: ...
    @property
    def updated_at(self) -> float: ...


class Listed(NamedTuple):
    """A run as attribution reads it: only what matching and the stop rule need."""

    id: str
    created_at: float
    updated_at: float


_T = TypeVar("_T", bound=_Ordered)


@dataclass(frozen=True)
class SyncSettings:
    page_size: int = 1000
    overlap_seconds: float = 120.0
    reconcile_interval_seconds: float = 900.0
    max_rereads: int = 3
    attribution_rounds: int = 3


@dataclass(frozen=True)
class SyncReport:
    kind: str
    requests: int
    observed: int
    baseline: bool
    reconciled: bool
    result: ApplyResult
    duration: float
    rereads: int = 0  # re-reads from the top because the scan paged while the list changed


class _OrderChanged(Exception):
    def __init__(self, order: Order) -> None:
        super().__init__(order.value)
        self.order = order


class KindSyncer:
    def __init__(
        self,
        state: KindState,
        client: ApiClient,
        settings: SyncSettings,
        *,
        clock: Callable[[], float] = time.time,
        on_invalid_summary: Callable[[str], None] | None = None,
    ) -> None:
        self.state = state
        self.spec: KindSpec = state.spec
        self.client = client
        self.settings = settings
        self._clock = clock
        self._on_invalid = on_invalid_summary
        self._last_reconcile = clock()
        self._requests = 0
        self._rereads = 0
        self._settled = True
        self._last_duration = 0.0
        self._last_in_window = 0
        self._vanished: set[str] = set()  # old active runs no listing returns any more: deleted
        self._scan_floor = -math.inf  # the key the last scan read down to

    @property
    def overlap(self) -> float:
        # Covers clock skew and write-visibility lag, plus however long the last sync took.
        return self.settings.overlap_seconds + self._last_duration

    def sync(self, *, force_reconcile: bool = False) -> SyncReport:
        started = self._clock()
        baseline = self.state.position is None
        reconcile = (
            baseline
            or force_reconcile
            or (started - self._last_reconcile >= self.settings.reconcile_interval_seconds)
        )
        self._requests = 0
        self._rereads = 0
        self._settled = True
        self._vanished = set()
        for _ in range(3):
            try:
                seen, reconciled, position = self._collect(baseline, reconcile)
                need = {rid for rid, obs in seen.items() if self.state.needs_source(obs, baseline)}
                sources = self._attribute_old_active(need, seen) if need else {}
                need.difference_update(sources)
                if need:
                    sources.update(self._attribute(need, seen))
                break
            except _OrderChanged as change:
                # Found while scanning or attributing: start the sync over in the order seen.
                log.warning(
                    "%s: listing order is %s, not %s; adapting",
                    self.spec.name,
                    change.order.value,
                    self.state.effective_order.value,
                )
                self.state.adopt_order(change.order)
        else:  # pragma: no cover - the order can change at most twice (CREATED -> UPDATED -> NONE)
            raise RuntimeError("listing order kept changing")
        result = self.state.apply(
            seen.values(),
            sources,
            overlap=self.overlap,
            new_position=position,
            baseline=baseline,
            reconciled=reconciled,
            settled=self._settled,
        )
        self.state.forget_active(self._vanished)
        if reconcile:
            self._last_reconcile = started
        duration = self._clock() - started
        self._last_duration = max(0.0, duration)
        return SyncReport(
            self.spec.name, self._requests, len(seen), baseline, reconcile, result, duration, self._rereads
        )

    # --- listings -----------------------------------------------------------------------------------

    def _params(self, page_size: int | None = None, **filters: str) -> dict[str, str | int]:
        params: dict[str, str | int] = {"maxPageSize": page_size or self.settings.page_size, **filters}
        if self.spec.sortable:
            params["sortBy"] = "updatedAt"
            params["sortDir"] = "desc"
        return params

    def _pages(self, params: Mapping[str, str | int]) -> Iterator[list[Observation]]:
        listed: set[str] = set()
        last: Observation | None = None
        tags = bool(self.state.usage_tags)
        by_created = self.state.effective_order is Order.CREATED
        for page in self.client.iter_pages(self.spec, params):
            self._requests += 1
            items: list[Observation] = []
            for raw in page.items:
                try:
                    obs = observation(self.spec, raw, usage_tags=tags)
                    items.append(obs)
                    if by_created and obs.status in ACTIVE_STATUSES:
                        self._remember_name(obs.id, raw)
                except SummaryError as exc:
                    log.warning("%s: skipping a run summary: %s", self.spec.name, exc)
                    if self._on_invalid:
                        self._on_invalid(self.spec.name)
            last = self._check_order(items, last, listed)
            yield items

    def _listed_pages(self, params: Mapping[str, str | int]) -> Iterator[list[Listed]]:
        """Pages decoded only as far as attribution needs: id and updatedAt (and createdAt where the
        listing's order must be checked), not a full Observation per summary. Summaries the scan
        could not read were reported there; here they are skipped without a second report."""
        listed: set[str] = set()
        last: Listed | None = None
        check = not self.spec.sortable
        for page in self.client.iter_pages(self.spec, params):
            self._requests += 1
            items = [run for raw in page.items if (run := _listed(raw, check)) is not None]
            last = self._check_order(items, last, listed)
            yield items

    def _check_order(self, items: list[_T], last: _T | None, listed: set[str]) -> _T | None:
        """An unsortable listing's order is checked on every page and across pages.

        Across pages only runs not listed before count: cursor shifts repeat runs, but in either
        supported order a run first met on a later page can never be newer than the last one met.
        Returns the last run met, to check the next page against.
        """
        if self.spec.sortable:
            return None
        fresh = [o for o in items if o.id not in listed]
        listed.update(o.id for o in items)
        if not fresh:
            return last
        chain = [last, *fresh] if last is not None else fresh
        order = self.state.effective_order
        if order is Order.NONE or len(chain) < 2 or _descending(chain, order):
            return fresh[-1]
        if order is Order.CREATED and _descending(chain, Order.UPDATED):
            raise _OrderChanged(Order.UPDATED)
        raise _OrderChanged(Order.NONE)

    def _key(self, obs: Observation) -> float:
        return obs.created_at if self.state.effective_order is Order.CREATED else obs.updated_at

    def _collect(
        self, baseline: bool, reconcile: bool
    ) -> tuple[dict[str, Observation], set[str] | None, float]:
        seen: dict[str, Observation] = {}
        order = self.state.effective_order
        probe_top: float | None = None
        if baseline and order is not Order.NONE:
            probe_top = self._top_key()
        reconciled: set[str] | None = None
        if reconcile:
            reconciled = set()
            for status in self.spec.active_statuses:
                for items in self._pages(self._params(status=status)):
                    for obs in items:
                        _merge(seen, obs)
                        reconciled.add(obs.id)
        bound = self._scan_bound(probe_top)
        self._scan_floor = bound
        top, pages = self._scan(seen, bound)
        if order is not Order.NONE and pages > 1 and top is not None:
            self._reread(seen, top)
        # The position is where the scan's coverage ends. The listings read after it (re-observing old
        # active runs) may return runs created since the scan read the top; anchoring on those would
        # put the runs created and finished meanwhile, which no status listing holds, below the next
        # window: never counted.
        known = [self._key(obs) for obs in seen.values()]
        if order is Order.CREATED and not baseline:
            self._reobserve_old_active(seen, bound, listed_active=reconciled is not None)
        if reconciled is not None:
            reconciled.update(seen)
        known += [k for k in (probe_top, self.state.position) if k is not None]
        # An empty list has no server timestamp to anchor on (and our clock may be skewed from the
        # server's): anchor at the epoch, so every run that appears later counts as new.
        position = max(known) if known else 0.0
        return seen, reconciled, position

    def _top_key(self) -> float | None:
        params = self._params()
        params["maxPageSize"] = 1
        for items in self._pages(params):
            return self._key(items[0]) if items else None
        return None

    def _scan_bound(self, probe_top: float | None) -> float:
        order = self.state.effective_order
        if order is Order.NONE:
            return -math.inf
        start = self.state.window
        if start is None:
            start = probe_top - self.overlap if probe_top is not None else -math.inf
        if order is Order.CREATED and self.state.window is None:
            # Baseline: no ledger yet, so no active run to re-observe; the reconcile listings of the
            # baseline hold every active run. Later syncs re-observe old ones: _reobserve_old_active.
            oldest = self.state.oldest_active_key()
            if oldest is not None:
                start = min(start, oldest)
        return start

    def _reobserve_old_active(
        self, seen: dict[str, Observation], bound: float, *, listed_active: bool
    ) -> None:
        """Re-observe tracked active runs created before the scan window, at a cost free of history.

        A creation-ordered scan would have to read down to the oldest active run on every sync (one
        stuck run makes each sync read everything created since). Instead the status-filtered
        listings of the active statuses (they hold only active runs: one request each while fewer
        than a page are active) say which old runs are still active; one missing from them and from
        the scan has left the active set, and is looked up by a listing narrowed with
        `fileNameContains=<its file name>` (names are kept in the state, so across restarts too),
        read down to its creation by updatedAt (exact in either descending order).

        Chosen by measurement (bench/stuck_cost.py, 5 stuck runs per kind, default settings):
        /parse_runs costs 3 requests per idle sync at 10k, 100k and 1M runs per kind (before: 16.8
        and 151.5 mean, 97 and 917 at worst, at 10k and 100k), and a departure one more request
        whose page holds only the runs sharing that file name. A get by ID is not documented for
        /parse_runs in 2026-02-09 (EXTEND_API.md lists only list endpoints for it) and a full parse
        run would carry its output. A run whose file name is unknown (a null file, or a state file
        from before this change) falls back to a creation-order read down to it: exact, costly,
        once per such departure, logged.
        """
        old = self.state.active_created_before(bound)
        self.state.prune_file_names(rid for rid, obs in seen.items() if obs.status in ACTIVE_STATUSES)
        if not old:
            return
        if not listed_active:
            for status in self.spec.active_statuses:
                for items in self._pages(self._params(status=status)):
                    for obs in items:
                        _merge(seen, obs)
        departed = {rid: created for rid, created in old.items() if rid not in seen}
        vanished: set[str] = set()
        unnamed: dict[str, float] = {}
        for rid, created in departed.items():
            name = self.state.file_name(rid)
            if name is None:
                unnamed[rid] = created
            elif not self._find_by_name(seen, rid, name, created):
                vanished.add(rid)
        if unnamed:
            log.info(
                "%s: %d departed run(s) with no known file name; reading down to them",
                self.spec.name,
                len(unnamed),
            )
            floor = min(unnamed.values())
            for items in self._pages(self._params()):
                for obs in items:
                    _merge(seen, obs)
                if items and items[-1].updated_at < floor:
                    break
            vanished.update(rid for rid in unnamed if rid not in seen)
        self._vanished = vanished

    def _find_by_name(self, seen: dict[str, Observation], rid: str, name: str, created: float) -> bool:
        for items in self._pages(self._params(MIN_SCAN_PAGE, fileNameContains=name)):
            for obs in items:
                if obs.id == rid:
                    _merge(seen, obs)
                    return True
            if items and items[-1].updated_at < created:
                break
        return False

    def _remember_name(self, rid: str, raw: Mapping[str, Any]) -> None:
        file = raw.get("file")
        name = file.get("name") if isinstance(file, Mapping) else None
        if isinstance(name, str) and name:
            self.state.remember_file_name(rid, name)

    def _scan_page_size(self) -> int:
        """Pages sized to what the last scan found inside its window (with headroom), not to 1000:
        an idle sync then parses ~100 summaries instead of 1000 for the same single request. One
        listing keeps one size (the API warns against changing parameters between its pages)."""
        wanted = int(self._last_in_window * 1.5) + 50
        return min(self.settings.page_size, max(MIN_SCAN_PAGE, -(-wanted // 50) * 50))

    def _read_down(self, seen: dict[str, Observation], bound: float) -> tuple[float | None, int, int]:
        """Page from the top until a page reaches below `bound`: (first key, pages, runs in window)."""
        top: float | None = None
        pages = in_window = 0
        for items in self._pages(self._params(self._scan_page_size())):
            pages += 1
            if items and top is None:
                top = self._key(items[0])
            for obs in items:
                _merge(seen, obs)
                if self._key(obs) >= bound:
                    in_window += 1
            # updatedAt >= createdAt, so in updatedAt order this is the key itself (see the docstring).
            if items and items[-1].updated_at < bound:
                break
        return top, pages, in_window

    def _scan(self, seen: dict[str, Observation], bound: float) -> tuple[float | None, int]:
        top, pages, self._last_in_window = self._read_down(seen, bound)
        return top, pages

    def _reread(self, seen: dict[str, Observation], top: float) -> None:
        for _ in range(self.settings.max_rereads):
            self._rereads += 1
            first, pages, _ = self._read_down(seen, top)
            if pages <= 1 or first is None:
                return
            top = first
        self._settled = False
        log.info(
            "%s: the list kept changing under %d re-reads; keeping the window open",
            self.spec.name,
            self.settings.max_rereads,
        )

    def _attribute(self, need: set[str], seen: Mapping[str, Observation]) -> dict[str, str]:
        found: dict[str, str] = {}
        remaining = set(need)
        weights = {s: self.state.source_weight(s) for s in self.spec.sources}
        ranked = sorted(self.spec.sources, key=lambda s: -weights[s])
        # In no usable order a run can be on any page of a source's listing: read it to the end.
        ordered = self.state.effective_order is not Order.NONE
        for _ in range(self.settings.attribution_rounds):
            if not remaining:
                break
            oldest = min(self._key(seen[rid]) for rid in remaining)
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
                size = self._attribution_page_size(known[source] + unknown_left)
                for items in self._listed_pages(self._params(size, source=source)):
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

    def _attribute_old_active(self, need: set[str], seen: Mapping[str, Observation]) -> dict[str, str]:
        """Sources of active runs older than the scan window, from source- and status-filtered listings.

        Those listings hold only active runs, so this costs at most one request per (source, active
        status) pair while fewer than a page are active, at any history size; the source listings
        read by `_attribute` would instead reach down to the oldest such run (all of history below a
        run stuck for weeks). A run that changed status meanwhile is left to `_attribute`.
        """
        floor = self._scan_floor
        old = {rid: seen[rid].status for rid in need if seen[rid].status in ACTIVE_STATUSES}
        old = {rid: st for rid, st in old.items() if self._key(seen[rid]) < floor}
        found: dict[str, str] = {}
        if not old:
            return found
        statuses = [st for st in self.spec.active_statuses if st in set(old.values())]
        ranked = sorted(self.spec.sources, key=lambda s: -self.state.source_weight(s))
        for source in ranked:
            for status in statuses:
                if len(found) == len(old):
                    return found
                for items in self._pages(self._params(source=source, status=status)):
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

    def _attribution_page_size(self, expected: int) -> int:
        """A source listing's page sized to the runs expected above the stop point (with headroom for
        runs that changed since the scan), not to 1000: the page is what costs bytes and CPU. In no
        usable order the whole listing is read, so fewer, larger pages are cheaper."""
        if self.state.effective_order is Order.NONE:
            return self.settings.page_size
        wanted = int(expected * 1.25) + MIN_ATTRIBUTION_PAGE
        return min(self.settings.page_size, -(-wanted // MIN_ATTRIBUTION_PAGE) * MIN_ATTRIBUTION_PAGE)


def _merge(seen: dict[str, Observation], obs: Observation) -> None:
    """Keep the latest state of each run; on equal updatedAt the later read wins."""
    current = seen.get(obs.id)
    if current is None or obs.updated_at >= current.updated_at:
        seen[obs.id] = obs


def _listed(raw: dict[str, Any], with_created: bool) -> Listed | None:
    run_id = raw.get("id")
    if not isinstance(run_id, str) or not run_id:
        return None
    try:
        updated = parse_time(raw.get("updatedAt"))
        created = parse_time(raw.get("createdAt")) if with_created else updated
    except SummaryError:
        return None
    return Listed(run_id, created, updated)


def _descending(items: list[_T], order: Order) -> bool:
    keys = [o.created_at for o in items] if order is Order.CREATED else [o.updated_at for o in items]
    return all(a >= b for a, b in itertools.pairwise(keys))
