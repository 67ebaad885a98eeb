"""A request budget too small for the workload: the exporter process says so on /metrics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from extend_simulator import SimConfig, Simulator
from tests.exporter_process import parse_metrics, series, start_exporter, wait_until

KINDS = "workflow_run,extract_run,classify_run,split_run,parse_run,edit_run"


@pytest.fixture
def busy_sim() -> Iterator[Simulator]:
    rates = {
        "workflow": 60.0,
        "extract": 120.0,
        "classify": 60.0,
        "split": 40.0,
        "parse": 120.0,
        "edit": 40.0,
    }
    config = SimConfig(
        seed=5,
        history=200,
        rates=rates,
        epoch=datetime.now(UTC).replace(microsecond=0),
        realtime=True,
        qps_limit=None,
    )
    sim = Simulator(config)
    sim.start(host="127.0.0.1", port=0)
    yield sim
    sim.stop()


def test_saturated_budget_shows_syncs_falling_behind(busy_sim: Simulator) -> None:
    # Six kinds every second need at least 6 requests/s; the default budget allows 2.
    budget = {"EXTEND_EXPORTER_MAX_REQUESTS_PER_SECOND": "2"}
    with start_exporter(
        busy_sim.url, busy_sim.api_key, kinds=KINDS, poll_interval=1.0, extra_env=budget
    ) as proc:

        def behind() -> bool:
            metrics = proc.metrics()
            intervals = series(metrics, "extend_sync_interval_seconds")
            configured = series(metrics, "extend_sync_configured_interval_seconds")
            waited = series(metrics, "extend_exporter_request_budget_wait_seconds_total")
            measured = [v for v in intervals.values() if v > 0]  # 0 until a kind's second sync
            return (
                list(configured.values()) == [1.0]
                and sum(waited.values()) > 0
                and len(intervals) == 6
                and len(measured) >= 3
                and all(v > 1.5 for v in measured)
            )

        wait_until(behind, timeout=90, interval=0.5, message="measured sync intervals above 1.5x")
        metrics = parse_metrics(proc.metrics_text())
        assert list(series(metrics, "extend_exporter_request_budget_requests_per_second").values()) == [2.0]
