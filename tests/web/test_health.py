"""Readiness (exporter/web/health.py): a kind is ready once its first sync is on /metrics, not before."""

from __future__ import annotations

from exporter.web.health import Health


def test_a_kind_is_ready_once_its_first_sync_is_on_metrics() -> None:
    now, assembled = [100.0], [50.0]
    health = Health(["extract_run"], clock=lambda: now[0], exposed_since=lambda: assembled[0])
    assert health.problems() == ["extract_run: no successful sync yet"]
    health.success("extract_run")
    assert health.problems() == ["extract_run: first sync not on /metrics yet"]
    assembled[0] = 100.0  # an exposition assembled from the sync's counts on
    assert health.problems() == []
    now[0] = 130.0
    health.success("extract_run")  # later syncs may trail on /metrics for a moment: still ready
    assert health.problems() == []


def test_without_an_exposition_to_wait_for_a_sync_is_enough() -> None:
    health = Health(["extract_run"], clock=lambda: 100.0)
    health.success("extract_run")
    assert health.problems() == []
