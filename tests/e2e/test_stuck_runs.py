"""Long-stuck active runs (weeks old) against the real client and the simulator on 127.0.0.1.

Idle syncs must cost the same at any history size even with stuck runs of every kind, and stuck runs
that finish must be counted exactly once, with their source and a duration from their creation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exporter.app import Exporter
from exporter.kinds import API_2026, DEFAULT_KINDS
from extend_simulator.enums import ACTIVE
from tests.e2e.test_exact_counts import assert_matches_truth, make_exporter, sim_factory, sync_all

__all__ = ["sim_factory"]  # the fixture, re-used

DEFAULT = DEFAULT_KINDS[API_2026]
FAMILY = {kind: kind.removesuffix("_run") for kind in DEFAULT}
DAY = 86_400.0


def _idle_cost(sim: Any, exporter: Exporter, rounds: int = 3) -> tuple[dict[str, float], dict[str, int]]:
    """Requests per idle sync per endpoint over `rounds` syncs, then the requests of one reconcile."""
    before = dict(sim.truth.requests())
    for _ in range(rounds):
        sim.advance(60)
        sync_all(exporter)
    after = dict(sim.truth.requests())
    idle = {k: (after.get(k, 0) - before.get(k, 0)) / rounds for k in after}
    sim.advance(60)
    for kind in exporter.kinds:
        assert exporter.syncers[kind].sync(force_reconcile=True).reconciled
    reconcile = {k: v - after.get(k, 0) for k, v in sim.truth.requests().items()}
    return idle, reconcile


def test_idle_cost_with_stuck_runs_is_flat_in_history(sim_factory: Any) -> None:
    measured = {}
    for history in (2_000, 50_000):
        sim = sim_factory(
            seed=1, history=dict.fromkeys(FAMILY.values(), history), rates={}, touch_rate=0.0, stuck_runs=5
        )
        assert sum(1 for r in sim.runs() if r.status in ACTIVE) == 5 * len(FAMILY)
        exporter = make_exporter(sim, kinds=DEFAULT)
        sync_all(exporter)  # baseline
        measured[history] = _idle_cost(sim, exporter)
        assert_matches_truth(exporter, sim, sim.mark())
        exporter.client.close()
        sim.stop()
    (idle_small, rec_small), (idle_large, rec_large) = measured[2_000], measured[50_000]
    print(f"idle requests per sync: {idle_large}; one reconcile: {rec_large}")
    assert idle_small == idle_large, (idle_small, idle_large)
    assert rec_small == rec_large, (rec_small, rec_large)
    for kind in DEFAULT:
        path = f"/{kind}s"
        # The scan, plus one listing per active status for the creation-ordered /parse_runs.
        assert idle_large[path] <= 3, (kind, idle_large[path])


@pytest.mark.parametrize("restart", [False, True], ids=["running", "restarted"])
def test_stuck_runs_that_finish_count_once(sim_factory: Any, tmp_path: Path, restart: bool) -> None:
    sim = sim_factory(seed=17, history=2_000, rates={}, touch_rate=0.0, stuck_runs=5)
    state_file = str(tmp_path / "state.json")
    exporter = make_exporter(sim, kinds=DEFAULT, state_file=state_file)
    exporter.load_state()
    mark = sim.mark()
    sync_all(exporter)  # baseline: the stuck runs are active, nothing counted
    sim.advance(60)
    sync_all(exporter)
    assert_matches_truth(exporter, sim, mark)

    outcomes = ("PROCESSED", "FAILED", "CANCELLED")
    now = sim.now().timestamp()
    ended: dict[str, int] = {}
    for kind, fam in FAMILY.items():
        terminal = exporter.states[kind].spec.terminal_statuses
        old = [r for r in sim.runs(fam) if r.status in ACTIVE and now - r.created / 1000 > 20 * DAY]
        assert len(old) >= 2, (kind, len(old))
        for i, run in enumerate(old):
            status = outcomes[i % len(outcomes)]
            if status not in terminal:
                status = "PROCESSED"
            assert sim.finish_run(sim.run_id_of(run), status)
        ended[kind] = len(old)
    if restart:
        exporter.stop()  # flushes the state file and releases its lock
        sim.advance(30)
        exporter = make_exporter(sim, kinds=DEFAULT, state_file=state_file)
        exporter.load_state()
    for _ in range(2):  # the second sync must not count them again
        sim.advance(60)
        sync_all(exporter)
        assert_matches_truth(exporter, sim, mark)
    for kind, n in ended.items():
        durations = exporter.states[kind].snapshot().durations
        count = sum(c for _, _, c in durations.values())
        total = sum(t for _, t, _ in durations.values())
        assert count == n, (kind, count, n)
        assert total / count > 20 * DAY, (kind, total / count / DAY)

    # The parse batches left PENDING for hours finish too.
    for run in [r for r in sim.runs("parse") if r.status in ACTIVE]:
        assert sim.finish_run(sim.run_id_of(run), "FAILED")
    sim.advance(60)
    sync_all(exporter)
    assert_matches_truth(exporter, sim, mark)
    assert not any(exporter.states["parse_run"].snapshot().active.values())


def test_runs_created_while_stuck_runs_are_re_observed_are_not_skipped(sim_factory: Any) -> None:
    """Time passes between the /parse_runs scan and the re-observation of old active runs (a busy API,
    a slow sync): the status listings then hold runs created after the scan read the top. The sync
    position must stay where the scan's coverage ends, or the runs that were created and finished
    meanwhile (in no status listing) fall below the next window and are never counted."""
    sim = sim_factory(seed=5, history=500, touch_rate=0.0, stuck_runs=3)
    exporter = make_exporter(sim, kinds=("parse_run",), sync_overlap_seconds=5)
    mark = sim.mark()
    sync_all(exporter)  # baseline
    sim.advance(60)
    sync_all(exporter)
    client = exporter.syncers["parse_run"].client
    real_iter_pages = client.iter_pages
    advanced: list[bool] = []

    def iter_pages(spec: Any, params: Any) -> Any:
        if "status" in params and not advanced:  # the first status listing, after the scan
            advanced.append(True)
            sim.advance(45)  # runs are created, and some finish, while the sync goes on
        return real_iter_pages(spec, params)

    client.iter_pages = iter_pages  # type: ignore[method-assign]
    sim.advance(30)
    sync_all(exporter)
    assert advanced, "the sync re-observed no old active run"
    client.iter_pages = real_iter_pages  # type: ignore[method-assign]
    for _ in range(2):
        sim.advance(60)
        sync_all(exporter)
        assert_matches_truth(exporter, sim, mark)
