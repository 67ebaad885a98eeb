"""Reading one kind's listings: query parameters, pages decoded for the sync, requests counted.

Pages come decoded as Observations (what counting needs) or as lighter `Listed` runs (what
attribution needs). An unsortable listing's order is checked on every page: a page out of the
assumed order raises `OrderChanged`, and the sync starts over in the order seen.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple, Protocol, TypeVar

from ..api.client import ApiClient
from ..engine.kind_state import KindState
from ..engine.observation import Observation
from ..kinds import ACTIVE_STATUSES, KindSpec, Order
from .summaries import SummaryError, file_name, observation, parse_time

log = logging.getLogger("exporter.sync")  # one logger for the whole sync, as log lines always named it


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


class OrderChanged(Exception):
    """An unsortable listing is not in the order assumed: the sync starts over in `order`."""

    def __init__(self, order: Order) -> None:
        super().__init__(order.value)
        self.order = order


class Listings:
    """The listings of one kind, as one sync reads them; `requests` counts the pages fetched."""

    def __init__(
        self,
        state: KindState,
        client: ApiClient,
        page_size: int,
        on_invalid_summary: Callable[[str], None] | None = None,
    ) -> None:
        self.state = state
        self.spec: KindSpec = state.spec
        self.client = client
        self.page_size = page_size
        self._on_invalid = on_invalid_summary
        self.requests = 0

    def params(self, page_size: int | None = None, **filters: str) -> dict[str, str | int]:
        params: dict[str, str | int] = {"maxPageSize": page_size or self.page_size, **filters}
        if self.spec.sortable:
            params["sortBy"] = "updatedAt"
            params["sortDir"] = "desc"
        return params

    def pages(self, params: Mapping[str, str | int]) -> Iterator[list[Observation]]:
        """Pages as Observations; the file names and batches of active runs of a creation-ordered kind
        are remembered on the way (the sync finds such a run by them once it leaves the active set)."""
        listed: set[str] = set()
        last: Observation | None = None
        tags = bool(self.state.usage_tags)
        by_created = self.state.effective_order is Order.CREATED
        for page in self.client.iter_pages(self.spec, params):
            self.requests += 1
            items: list[Observation] = []
            for raw in page.items:
                try:
                    obs = observation(self.spec, raw, usage_tags=tags)
                    items.append(obs)
                    if by_created and obs.status in ACTIVE_STATUSES:
                        self.state.remember_lookups(obs.id, file_name(raw), obs.batch_id)
                except SummaryError as exc:
                    log.warning("%s: skipping a run summary: %s", self.spec.name, exc)
                    if self._on_invalid:
                        self._on_invalid(self.spec.name)
            last = self._check_order(items, last, listed)
            yield items

    def listed_pages(self, params: Mapping[str, str | int]) -> Iterator[list[Listed]]:
        """Pages decoded only as far as attribution needs: id and updatedAt (and createdAt where the
        listing's order must be checked), not a full Observation per summary. Summaries the scan
        could not read were reported there; here they are skipped without a second report."""
        listed: set[str] = set()
        last: Listed | None = None
        check = not self.spec.sortable
        for page in self.client.iter_pages(self.spec, params):
            self.requests += 1
            items = [run for raw in page.items if (run := _listed(raw, check)) is not None]
            last = self._check_order(items, last, listed)
            yield items

    def read_batch(self, seen: dict[str, Observation], batch_id: str) -> set[str]:
        """Every run of a batch (the kind's batch filter) into `seen`; returns the ids listed."""
        assert self.spec.batch_filter is not None
        ids: set[str] = set()
        for items in self.pages(self.params(None, **{self.spec.batch_filter: batch_id})):
            for obs in items:
                merge(seen, obs)
                ids.add(obs.id)
        return ids

    def read_active(self, seen: dict[str, Observation]) -> set[str]:
        """Every active status listed in full into `seen`; returns the ids those listings held."""
        ids: set[str] = set()
        for status in self.spec.active_statuses:
            for items in self.pages(self.params(status=status)):
                for obs in items:
                    merge(seen, obs)
                    ids.add(obs.id)
        return ids

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
            raise OrderChanged(Order.UPDATED)
        raise OrderChanged(Order.NONE)


def merge(seen: dict[str, Observation], obs: Observation) -> None:
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
