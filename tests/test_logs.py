"""What the logs tell a user: what runs, what the first sync found, and a persistent error without a flood."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from exporter.api.apikey import ApiKeySource
from exporter.api.client import ApiError
from exporter.app import ERROR_REPEAT_LOG_SECONDS
from exporter.config import load_settings
from exporter.factory import build_exporter
from exporter.kinds import API_2026, DEFAULT_KINDS
from exporter.logs import REDACTED, redact, setup_logging
from extend_simulator import SimConfig, Simulator
from tests.exporter_process import start_exporter, wait_until


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = Simulator(SimConfig(seed=3, history=200, realtime=False, qps_limit=None))
    simulator.start(host="127.0.0.1", port=0)
    yield simulator
    simulator.stop()


def test_start_up_and_first_sync_summaries(sim: Simulator) -> None:
    kinds = DEFAULT_KINDS[API_2026]
    with start_exporter(
        sim.url, sim.api_key, poll_interval=30, extra_env={"EXTEND_EXPORTER_LOG_LEVEL": "info"}
    ) as proc:
        wait_until(
            lambda: all(f"{kind}: first sync done" in proc.logs() for kind in kinds),
            timeout=30,
            message="a first-sync summary per kind",
        )
        logs = proc.logs()
    start = [line for line in logs.splitlines() if "listening on" in line]
    assert len(start) == 1, logs
    for part in ("extend-exporter 0.1.0", "TLS off", "basic auth off", "version 2026-02-09", ",".join(kinds)):
        assert part in start[0]
    assert "state file: none" in start[0]
    assert "runs seen" in logs and sim.api_key not in logs


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_revoked_key_logs_a_bounded_number_of_lines_per_hour(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(
        {
            "api_key": "sk_revoked_0000000000",
            "api_base_url": sim.url,
            "max_retries": 0,
            "max_requests_per_second": 100,
        }
    )
    clock = FakeClock()
    exporter = build_exporter(settings, ApiKeySource(settings.api_key, None), clock=clock)
    caplog.set_level(logging.INFO, logger="exporter")
    interval = 60.0
    syncs = 0
    try:
        for _ in range(int(3600 / interval)):  # one hour of syncs of every kind, a minute apart
            for kind in exporter.kinds:
                assert exporter.sync_kind(kind) is False
                syncs += 1
            clock.now += interval
    finally:
        exporter.client.close()
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert syncs == 60 * len(exporter.kinds)
    # The first failure, then one line with a count per repeat interval: not one per kind per minute.
    assert 1 <= len(lines) <= 1 + 3600 / ERROR_REPEAT_LOG_SECONDS, [r.getMessage() for r in lines]
    assert "unauthorized" in lines[0].getMessage()
    assert "more identical failure" in lines[-1].getMessage()
    held_back = sum(int(r.getMessage().split("[")[1].split()[0]) for r in lines[1:])
    # Every failure is accounted for, except those since the last line (less than one repeat interval).
    not_yet_reported = syncs - held_back - len(lines)
    assert 0 <= not_yet_reported < ERROR_REPEAT_LOG_SECONDS / interval * len(exporter.kinds)


def test_recovery_is_logged(sim: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings({"api_key": sim.api_key, "api_base_url": sim.url, "kinds": "extract_run"})
    exporter = build_exporter(settings, ApiKeySource(settings.api_key, None))
    caplog.set_level(logging.INFO, logger="exporter")
    try:
        exporter._failed(
            exporter.workspace, "extract_run", ApiError("server_error", "x", 503), "/extract_runs: HTTP 503"
        )
        assert exporter.sync_kind("extract_run")
    finally:
        exporter.client.close()
    messages = [r.getMessage() for r in caplog.records]
    assert any("succeeded again after 1 failed" in m for m in messages), messages
    assert any("extract_run: first sync done" in m for m in messages), messages


@pytest.mark.parametrize("key", ["k", "e", "test", "run"])
def test_a_tiny_key_does_not_alter_log_text(key: str, capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("info", "text", lambda: [key])
    text = "kinds: workflow_run,extract_run; state file: none; test run done"
    logging.getLogger("exporter.test").info(text)
    logging.getLogger().handlers.clear()
    assert text in capsys.readouterr().err


def test_redaction_replaces_whole_keys_only() -> None:
    key = "sk_live_1a2b3c"
    assert redact(f"Bearer {key}", [key]) == f"Bearer {REDACTED}"
    assert redact(f"x={key}&y=1", [key]) == f"x={REDACTED}&y=1"
    assert redact(f"{key}9 is another token", [key]) == f"{key}9 is another token"
    long_key = "sk_live_" + "f" * 32
    assert long_key not in redact(f"glued{long_key}glued", [long_key])
