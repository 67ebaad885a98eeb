"""The Exporter: extend_up stays absent until a kind's first sync ends (start-up is no outage), and
sync_now pulls one kind's scheduled sync forward (a hint, e.g. a webhook), in one workspace or all."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.api.apikey import ApiKeySource
from exporter.api.identity import key_fingerprint
from exporter.config import load_settings
from exporter.factory import build_exporter
from exporter.webhooks.hints import CoalescedHints
from extend_simulator import SimConfig, Simulator
from extend_simulator.faults import Fault
from tests.exporter_process import parse_metrics, series, wait_until
from tests.recording_api import recording_api


def _syncs(text: bytes) -> dict[str, float]:
    found = series(parse_metrics(text.decode()), "extend_syncs_total", result="success")
    return {dict(labels)["kind"]: value for labels, value in found.items()}


def test_sync_now_pulls_only_that_kind_forward() -> None:
    with recording_api() as api:
        settings = load_settings(
            {
                "api_key": "sk_app_0123456789abcdef",
                "api_base_url": api.url,
                "kinds": "workflow_run,extract_run",
                "poll_interval_seconds": 3600,
                "max_requests_per_second": 100,
            }
        )
        exporter = build_exporter(settings, ApiKeySource(settings.api_key, None))
        workspace = key_fingerprint("sk_app_0123456789abcdef")  # a workspace key, no ID
        assert not exporter.sync_now("extract_run")  # nothing scheduled yet
        exporter.start_scheduler()
        try:
            first = {"workflow_run": 1.0, "extract_run": 1.0}
            wait_until(lambda: _syncs(exporter.exposition.current.text) == first, timeout=10)
            assert exporter.sync_now("extract_run")
            then = {"workflow_run": 1.0, "extract_run": 2.0}
            wait_until(lambda: _syncs(exporter.exposition.current.text) == then, timeout=10)
            # Counted as a webhook's: the sync it pulled forward, and only that one.
            assert _triggers(exporter.exposition.current.text) == {
                (workspace, "workflow_run", "schedule"): 1.0,
                (workspace, "extract_run", "schedule"): 1.0,
                (workspace, "extract_run", "webhook"): 1.0,
            }
            assert not exporter.hints_pending()
        finally:
            assert exporter.stop(deadline_seconds=10)
        assert not exporter.sync_now("extract_run")


def _triggers(text: bytes) -> dict[tuple[str, str, str], float]:
    """extend_sync_triggers_total by (workspace, kind, trigger)."""
    found = series(parse_metrics(text.decode()), "extend_sync_triggers_total")
    return {(dict(k)["workspace"], dict(k)["kind"], dict(k)["trigger"]): v for k, v in found.items()}


def _syncs_by_workspace(text: bytes) -> dict[tuple[str, str], float]:
    found = series(parse_metrics(text.decode()), "extend_syncs_total", result="success")
    return {(dict(labels)["workspace"], dict(labels)["kind"]): value for labels, value in found.items()}


def test_sync_now_pulls_a_kind_forward_in_one_workspace_or_in_every_one() -> None:
    """A webhook names a kind, and the workspace when it can: without one, that kind syncs everywhere."""
    with recording_api() as api:
        settings = load_settings(
            {
                "api_key": "sk_app_0123456789abcdef",
                "api_base_url": api.url,
                "workspace_id": "ws_a,ws_b",
                "kinds": "workflow_run,extract_run",
                "poll_interval_seconds": 3600,
                "max_requests_per_second": 100,
            }
        )
        exporter = build_exporter(settings, ApiKeySource(settings.api_key, None))
        exporter.start_scheduler()
        try:
            counts = {(ws, kind): 1.0 for ws in ("ws_a", "ws_b") for kind in ("workflow_run", "extract_run")}
            wait_until(lambda: _syncs_by_workspace(exporter.exposition.current.text) == counts, timeout=10)
            assert exporter.sync_now("extract_run", "ws_b")
            counts[("ws_b", "extract_run")] = 2.0
            wait_until(lambda: _syncs_by_workspace(exporter.exposition.current.text) == counts, timeout=10)
            assert exporter.sync_now("extract_run")
            counts[("ws_a", "extract_run")], counts[("ws_b", "extract_run")] = 2.0, 3.0
            wait_until(lambda: _syncs_by_workspace(exporter.exposition.current.text) == counts, timeout=10)
            # Each workspace counts its own syncs a webhook asked for (triggers are per workspace).
            triggers = _triggers(exporter.exposition.current.text)
            webhook = {k: v for k, v in triggers.items() if k[2] == "webhook"}
            assert webhook == {
                ("ws_a", "extract_run", "webhook"): 1.0,
                ("ws_b", "extract_run", "webhook"): 2.0,
            }
            assert {k: v for k, v in triggers.items() if k[2] == "schedule"} == {
                (ws, kind, "schedule"): 1.0
                for ws in ("ws_a", "ws_b")
                for kind in ("workflow_run", "extract_run")
            }
            assert not exporter.sync_now("extract_run", "ws_elsewhere")
            assert not exporter.sync_now("parse_run")  # not a kind this exporter syncs
        finally:
            assert exporter.stop(deadline_seconds=10)
        sent = {h.get("x-extend-workspace-id") for h in api.headers}
        assert sent == {"ws_a", "ws_b"}  # each workspace's requests carry its own ID


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = Simulator(SimConfig(seed=4, history=50, realtime=False, qps_limit=None))
    simulator.start(host="127.0.0.1", port=0)
    yield simulator
    simulator.stop()


def test_extend_up_is_absent_until_the_first_sync_ends(sim: Simulator) -> None:
    settings = load_settings(
        {"api_key": sim.api_key, "api_base_url": sim.url, "kinds": "extract_run,parse_run"}
    )
    exporter = build_exporter(settings, ApiKeySource(settings.api_key, None))
    try:
        exporter.load_state()
        before = parse_metrics(exporter.exposition.refresh().text.decode())
        assert series(before, "extend_up") == {}
        assert series(before, "process_start_time_seconds")  # the process is there, only syncs are not
        assert exporter.sync_kind("extract_run")
        after = parse_metrics(exporter.exposition.refresh().text.decode())
        workspace = key_fingerprint(sim.api_key)  # a workspace key with no ID: labelled by its fingerprint
        assert series(after, "extend_up") == {(("kind", "extract_run"), ("workspace", workspace)): 1.0}
    finally:
        exporter.client.close()


def test_a_sync_running_long_shows_while_it_runs(sim: Simulator) -> None:
    settings = load_settings({"api_key": sim.api_key, "api_base_url": sim.url, "kinds": "extract_run"})
    exporter = build_exporter(settings, ApiKeySource(settings.api_key, None))
    sim.set_faults(Fault("slow", rate=1.0, delay=1.5))
    syncing = threading.Thread(target=exporter.sync_kind, args=("extract_run",))
    try:
        exporter.load_state()
        syncing.start()

        def running() -> float:
            exporter.show_running_syncs()
            text = exporter.exposition.refresh().text.decode()
            (value,) = series(parse_metrics(text), "extend_sync_running_seconds", kind="extract_run").values()
            return value

        wait_until(lambda: running() >= 1.0, timeout=20, message="a running sync's time shown")
        syncing.join(timeout=60)
        assert running() == 0.0  # ended: back to 0
    finally:
        sim.clear_faults()
        syncing.join(timeout=60)
        exporter.client.close()


def test_hints_reach_the_exporter_watch_batch_and_sync_now() -> None:
    """The webhook seam on the real exporter: a batch hint makes the workspace track the batch, of any
    kind (read from the API later, never counted from the hint), and sync_now marks the kind's next sync
    as a webhook's."""
    settings = load_settings(
        {"api_key": "sk_app_0123456789abcdef", "kinds": "parse_run", "poll_interval_seconds": 3600}
    )
    exporter = build_exporter(settings, ApiKeySource(settings.api_key, None))
    hints = CoalescedHints(exporter)
    hints.watch_batch("parse_run", "bpar_1")
    hints.watch_batch("extract_run", "bpr_2")  # a kind whose runs are not synced: followed all the same
    tracker = exporter.workspace.batches
    assert tracker is not None
    tracked = tracker.book.batches
    assert (tracked["bpar_1"].kind, tracked["bpr_2"].kind, tracked["bpr_2"].candidates) == (
        "parse_run",
        None,
        ("extract_run",),
    )
    assert not any(tracker.book.snapshot().finished.values())
    hints.sync_kind_now("parse_run")  # nothing scheduled yet: no sync, and no hint left behind
    assert not exporter.hints_pending()


def test_a_kinds_baseline_is_written_at_once(sim: Simulator, tmp_path: Path) -> None:
    """A write just made defers the next one (SAVE_SHARE), but not a kind's first baseline: killed before
    it reached the file, the exporter would start that kind over from a new baseline, and the runs that
    finished in between would never be counted (tests/reliability/test_restarts.py, kill -9)."""
    state = tmp_path / "state.json"
    settings = load_settings(
        {
            "api_key": sim.api_key,
            "api_base_url": sim.url,
            "kinds": "extract_run,parse_run",
            "state_file": str(state),
        }
    )
    exporter = build_exporter(settings, ApiKeySource(settings.api_key, None))
    try:
        exporter.load_state()
        assert exporter.sync_kind("extract_run")
        exporter._save_due = time.monotonic() + 3600  # as if the last write had been expensive
        assert exporter.sync_kind("parse_run")
        restarted = build_exporter(settings, ApiKeySource(settings.api_key, None))
        assert exporter.store is not None
        exporter.store.unlock()  # the first process is gone
        restarted.load_state()
        (workspace,) = restarted.workspaces
        assert all(s.last_success is not None for s in workspace.states.values()), workspace.states
        restarted.client.close()
    finally:
        exporter.client.close()
