"""The Exporter: extend_up stays absent until a kind's first sync ends (start-up is no outage), and
sync_now pulls one kind's scheduled sync forward (a hint, e.g. a webhook), in one workspace or all."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exporter.api.apikey import ApiKeySource
from exporter.api.identity import key_fingerprint
from exporter.config import load_settings
from exporter.factory import build_exporter
from extend_simulator import SimConfig, Simulator
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
        assert not exporter.sync_now("extract_run")  # nothing scheduled yet
        exporter.start_scheduler()
        try:
            first = {"workflow_run": 1.0, "extract_run": 1.0}
            wait_until(lambda: _syncs(exporter.exposition.current.text) == first, timeout=10)
            assert exporter.sync_now("extract_run")
            then = {"workflow_run": 1.0, "extract_run": 2.0}
            wait_until(lambda: _syncs(exporter.exposition.current.text) == then, timeout=10)
        finally:
            assert exporter.stop(deadline_seconds=10)
        assert not exporter.sync_now("extract_run")


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
