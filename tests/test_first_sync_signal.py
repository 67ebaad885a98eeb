"""Before its first sync a kind has no extend_up sample: start-up must not read as an outage."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exporter.api.apikey import ApiKeySource
from exporter.config import load_settings
from exporter.factory import build_exporter
from extend_simulator import SimConfig, Simulator
from tests.support import parse_metrics, series


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
        assert series(after, "extend_up") == {(("kind", "extract_run"),): 1.0}
    finally:
        exporter.client.close()
