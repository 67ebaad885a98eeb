"""Exporter.sync_now: a hint (a webhook, later) pulls one kind's scheduled sync forward."""

from __future__ import annotations

from exporter.api.apikey import ApiKeySource
from exporter.config import load_settings
from exporter.factory import build_exporter
from tests.recording_api import recording_api
from tests.support import parse_metrics, series, wait_until


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
