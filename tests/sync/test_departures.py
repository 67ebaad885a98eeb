"""What re-observing old active runs of /parse_runs costs: a batch's runs in one `?batchId=` listing,
many departures in the terminal-status listings, a few by name; counts exact every way."""

from __future__ import annotations

from collections import Counter
from typing import cast

from exporter.api.client import ApiClient
from exporter.engine.kind_state import KindState
from exporter.kinds import KINDS
from exporter.sync import KindSyncer, SyncSettings
from tests.sync.list_api_model import ModelApi

SPEC = KINDS["parse_run"]


class World:
    def __init__(self) -> None:
        self.api = ModelApi(SPEC, "created", file_names=True)
        self.state = KindState(SPEC)
        settings = SyncSettings(page_size=1000, overlap_seconds=60.0)
        self.syncer = KindSyncer(self.state, cast(ApiClient, self.api), settings, clock=lambda: self.api.now)

    def sync(self) -> int:
        before = self.api.requests
        self.syncer.sync()
        return self.api.requests - before

    def exact(self) -> None:
        snap = self.state.snapshot()
        assert Counter({k: v for k, v in snap.finished.items() if v}) == self.api.finished
        assert Counter({k: v for k, v in snap.created.items() if v}) == self.api.created
        assert Counter({k: v for k, v in snap.active.items() if v}) == self.api.active()


def _queue(world: World, n: int, batch: str | None) -> list[str]:
    ids = [world.api.create("PENDING", "BATCH_PARSER_RUN", batch).id for _ in range(n)]
    world.api.now += 1
    world.sync()  # baseline: the queue is active
    world.api.counting = True
    return ids


def _history(world: World, n: int) -> None:
    """Finished runs created after the queue, newer than it in the listing's order; then the window
    moves past the queue."""
    world.api.now += 1000
    for _ in range(n):
        world.api.create("PROCESSED", "API")
        world.api.now += 0.1
    world.api.now += 1000
    world.sync()


def test_a_draining_batch_costs_one_listing_per_sync_whatever_finishes() -> None:
    world = World()
    queue = _queue(world, 300, "bpar_queue")
    _history(world, 1500)
    costs = []
    for start in range(0, 300, 60):
        for rid in queue[start : start + 60]:
            world.api.transition(rid, "PROCESSED" if start % 120 else "FAILED")
        world.api.now += 5
        costs.append(world.sync())
        world.exact()
    # The scan's first page and the batch's listing; no active-status listing, no lookup per run.
    assert costs == [2] * 5


def test_many_departures_read_the_terminal_listings_instead_of_every_name() -> None:
    world = World()
    queue = _queue(world, 30, None)
    _history(world, 1500)  # ~300 newer runs share each of the 5 names: a name costs 4 pages of 100
    for i, rid in enumerate(queue):
        world.api.transition(rid, "FAILED" if i % 6 == 0 else "PROCESSED")
    world.api.now += 5
    cost = world.sync()
    world.exact()
    # Scan, two active listings, PROCESSED (two pages of 1000: the history, then the queue), FAILED.
    assert cost == 6, cost  # looking the 5 names up would have cost 20 more


def test_a_few_departures_are_looked_up_by_name() -> None:
    world = World()
    queue = _queue(world, 30, None)
    _history(world, 1500)
    world.api.transition(queue[0], "PROCESSED")
    world.api.transition(queue[5], "FAILED")  # the same name as queue[0]: one listing for both
    world.api.now += 5
    cost = world.sync()
    world.exact()
    # Scan, two active listings, one listing of the name both share: 4 pages of 100, as ~300 newer
    # runs share it (fewer names than terminal statuses: the terminal listings are not tried).
    assert cost == 7, cost
