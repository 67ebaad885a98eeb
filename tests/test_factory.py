"""build_exporter wires what the settings say: kinds, sync settings, budget, workspace, state file, clock.

The exporter it builds syncs against a small API stand-in on 127.0.0.1 that records what it was sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from exporter.api.apikey import ApiKeySource
from exporter.config import load_settings
from exporter.factory import HOLD_BOUND_INTERVALS, build_exporter
from exporter.sync import SyncSettings
from tests.exporter_process import parse_metrics, series
from tests.recording_api import RecordingApi, recording_api

KEY = "sk_factory_0123456789abcdef"
NOW = 1_800_000_000.0


@pytest.fixture
def api() -> Iterator[RecordingApi]:
    with recording_api() as server:
        yield server


def _settings(api: RecordingApi, **overrides: Any) -> Any:
    values: dict[str, Any] = {"api_key": KEY, "api_base_url": api.url, "max_requests_per_second": 100}
    values.update(overrides)
    return load_settings(values)


def test_the_exporter_is_wired_as_the_settings_say(api: RecordingApi, tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    settings = _settings(
        api,
        kinds="workflow_run,extract_run",
        workspace_id="ws_factory",
        page_size=50,
        sync_overlap_seconds=30,
        reconcile_interval_seconds=600,
        poll_interval_seconds=90,
        max_requests_per_second=7,
        state_file=str(state_file),
    )
    exporter = build_exporter(settings, ApiKeySource(settings.api_key, None), clock=lambda: NOW)
    exporter.load_state()
    try:
        assert exporter.kinds == ("workflow_run", "extract_run")
        (workspace,) = exporter.workspaces
        assert workspace.kinds == exporter.kinds
        assert set(workspace.states) == set(workspace.syncers) == set(exporter.kinds)
        expected = SyncSettings(page_size=50, overlap_seconds=30, reconcile_interval_seconds=600)
        assert all(syncer.settings == expected for syncer in workspace.syncers.values())
        assert exporter.health.stale_after == 3 * 90
        assert exporter.store is not None and exporter.store.path == state_file

        samples = parse_metrics(exporter.exposition.refresh().text.decode())
        assert series(samples, "extend_exporter_request_budget_requests_per_second") == {(): 7.0}
        assert series(samples, "extend_sync_configured_interval_seconds") == {(): 90.0}
        assert [dict(k)["workspace"] for k in series(samples, "extend_exporter_build_info")] == ["ws_factory"]
        assert series(samples, "extend_invalid_summaries_total") == {
            (("kind", "workflow_run"), ("workspace", "ws_factory")): 0.0,
            (("kind", "extract_run"), ("workspace", "ws_factory")): 0.0,
        }
        assert series(samples, "extend_exporter_state_write_failures_total") == {(): 0.0}

        assert exporter.sync_kind("workflow_run")
        assert api.headers, "the sync sent no request"
        sent = api.headers[0]
        assert sent["authorization"] == f"Bearer {KEY}"
        assert sent["x-extend-workspace-id"] == "ws_factory"
        assert sent["x-extend-api-version"] == settings.api_version
        assert workspace.states["workflow_run"].last_success == NOW  # the clock given, not the wall clock
        written = orjson.loads(state_file.read_bytes())["workspaces"]["ws_factory"]["kinds"]
        assert {k: v["last_success"] for k, v in written.items()} == {
            "workflow_run": NOW,
            "extract_run": None,
        }
    finally:
        exporter.stop(deadline_seconds=5)


def test_without_a_state_file_nothing_is_kept_for_one(api: RecordingApi) -> None:
    settings = _settings(api, kinds="extract_run")
    exporter = build_exporter(settings, ApiKeySource(settings.api_key, None))
    try:
        assert exporter.store is None
        assert exporter.sync_kind("extract_run")
        assert exporter.workspace.persisted() == {}
    finally:
        exporter.client.close()


def test_a_hold_beyond_two_poll_intervals_fails_the_sync_at_once(
    api: RecordingApi, caplog: pytest.LogCaptureFixture
) -> None:
    poll = 10.0
    settings = _settings(api, kinds="extract_run", poll_interval_seconds=poll, max_retries=3)
    exporter = build_exporter(settings, ApiKeySource(settings.api_key, None))
    api.retry_after = 100  # longer than the bound, shorter than max_retry_after_seconds (300 s)
    caplog.set_level(logging.WARNING, logger="exporter")
    started = time.monotonic()
    try:
        assert not exporter.sync_kind("extract_run")
    finally:
        exporter.client.close()
    assert time.monotonic() - started < poll  # failed at once, not after waiting out the hold
    assert len(api.headers) == 1
    samples = parse_metrics(exporter.exposition.current.text.decode())
    errors = series(samples, "extend_sync_errors_total", kind="extract_run", reason="rate_limited")
    assert list(errors.values()) == [1.0]
    bound = f"({HOLD_BOUND_INTERVALS * poll:g}s)"
    assert any(bound in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]
