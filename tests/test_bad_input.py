"""A newcomer's bad inputs, command by command: exit 2 (bad setting or usage) or 1 (the world is wrong),
exactly one line on stderr naming the setting or the cause, never a traceback, never the key."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from extend_simulator import SimConfig, Simulator
from tests.exporter_process import free_port
from tests.test_cli import CANARY

ORG_KEY = "sk_org_canary_5e8d2a9c"
WEBHOOK_CANARY = "wss_canary_7d41b0e2"


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...]
    exit_code: int
    says: tuple[str, ...]  # every one of these appears in the stderr line
    env: dict[str, str] = field(default_factory=dict)
    module: str = "exporter"
    never_says: tuple[str, ...] = ()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Loopback endpoints: a simulator (with an organisation key), a busy port, a port nobody listens on;
    a directory and a plain file."""
    sim = Simulator(
        SimConfig(
            seed=1,
            history=50,
            keys={"sk_ws_key": {"org_scoped": False}, ORG_KEY: {"org_scoped": True}},
            api_key="sk_ws_key",
            realtime=False,
            qps_limit=None,
        )
    )
    sim.start(host="127.0.0.1", port=0)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    folder = tmp_path_factory.mktemp("bad-input")
    (folder / "plain-file").write_text("not a directory")
    yield {
        "DIR": str(folder),
        "FILE": str(folder / "plain-file"),
        "SIM": sim.url,
        "SIM_TLS": sim.url.replace("http://", "https://"),
        "BUSY": f"127.0.0.1:{busy.getsockname()[1]}",
        "FREE": f"127.0.0.1:{free_port()}",
    }
    busy.close()
    sim.stop()


K = {"EXTEND_API_KEY": CANARY}
CHECK = ("check", "--max-retries", "0", "--kinds", "extract_run")
CASES = [
    # run (also the default command)
    Case("typo command", ("chek",), 2, ("unknown command", "'check'")),
    Case("unknown command", ("frobnicate",), 2, ("unknown command", "run")),
    Case(
        "boolean flag with a value", ("run", "--per-resource-labels", "true"), 2, ("unrecognized", "true"), K
    ),
    Case("log level unknown", ("--log-level", "loud"), 2, ("EXTEND_EXPORTER_LOG_LEVEL", "--log-level"), K),
    Case("duration garbage", ("--poll-interval-seconds", "5x"), 2, ("--poll-interval-seconds", "90s"), K),
    Case("duration zero", ("--poll-interval-seconds", "0s"), 2, ("--poll-interval-seconds",), K),
    Case(
        "duration env garbage",
        (),
        2,
        ("EXTEND_EXPORTER_REQUEST_TIMEOUT_SECONDS",),
        {**K, "EXTEND_EXPORTER_REQUEST_TIMEOUT_SECONDS": "soon"},
    ),
    Case("api version not a choice", ("--api-version", "2020-01-01"), 2, ("EXTEND_API_VERSION",), K),
    Case(
        "batch id not an ID",
        ("--batch-ids", "bpr_ok,bad id!"),
        2,
        ("EXTEND_EXPORTER_BATCH_IDS", "'bad id!'"),
        K,
    ),
    Case("max batches zero", ("--max-batches", "0"), 2, ("EXTEND_EXPORTER_MAX_BATCHES",), K),
    Case(
        "too many evaluation runs",
        (),
        2,
        ("EXTEND_EXPORTER_EVALUATION_RUN_IDS", "at most 20"),
        {**K, "EXTEND_EXPORTER_EVALUATION_RUN_IDS": ",".join(f"esr_{i}" for i in range(21))},
    ),
    Case("listen in use", ("--listen-address", "{BUSY}"), 2, ("--listen-address", "in use"), K),
    Case("no key", (), 2, ("EXTEND_API_KEY",)),
    # webhooks
    Case(
        "webhooks without a secret",
        ("--webhook-listen-address", "{FREE}"),
        2,
        ("EXTEND_EXPORTER_WEBHOOK_SECRET", "--webhook-secret"),
        K,
    ),
    Case(
        "webhook secret without a listener",
        (),
        2,
        ("EXTEND_EXPORTER_WEBHOOK_LISTEN_ADDRESS",),
        {**K, "EXTEND_EXPORTER_WEBHOOK_SECRET": WEBHOOK_CANARY},
        never_says=(WEBHOOK_CANARY,),
    ),
    Case(
        "webhook listener on the metrics port",
        ("--listen-address", "127.0.0.1:9999", "--webhook-listen-address", "0.0.0.0:9999"),
        2,
        ("--webhook-listen-address", "another port"),
        {**K, "EXTEND_EXPORTER_WEBHOOK_SECRET": WEBHOOK_CANARY},
        never_says=(WEBHOOK_CANARY,),
    ),
    Case(
        "webhook listen in use",
        ("--listen-address", "{FREE}", "--webhook-listen-address", "{BUSY}"),
        2,
        ("--webhook-listen-address", "in use"),
        {**K, "EXTEND_EXPORTER_WEBHOOK_SECRET": WEBHOOK_CANARY},
        never_says=(WEBHOOK_CANARY,),
    ),
    Case(
        "webhook secret file missing",
        ("--webhook-listen-address", "{FREE}", "--webhook-secret-file", "/nonexistent/secret"),
        2,
        ("EXTEND_EXPORTER_WEBHOOK_SECRET_FILE", "cannot read"),
        K,
    ),
    Case(
        "webhook secret malformed",
        ("--webhook-listen-address", "{FREE}"),
        2,
        ("EXTEND_EXPORTER_WEBHOOK_SECRET", "whitespace"),
        {**K, "EXTEND_EXPORTER_WEBHOOK_SECRET": WEBHOOK_CANARY + " x"},
        never_says=(WEBHOOK_CANARY,),
    ),
    Case("missing flag value", ("run", "--kinds"), 2, ("--kinds", "expected one argument"), K),
    Case(
        "state file in a missing directory",
        ("--state-file", "/nonexistent/dir/state.json"),
        2,
        ("--state-file", "the directory /nonexistent/dir does not exist"),
        K,
    ),
    Case("state file is a directory", ("--state-file", "{DIR}"), 2, ("--state-file", "is a directory"), K),
    Case(
        "state file under a plain file",
        ("--state-file", "{FILE}/state.json"),
        2,
        ("--state-file", "plain-file is not a directory"),
        K,
    ),
    # Creating a file in /proc fails for root too (permission bits would not stop root).
    Case(
        "state file cannot be written", ("--state-file", "/proc/state.json"), 2, ("cannot write in /proc",), K
    ),
    Case(
        "plain words for a bound",
        ("--poll-interval-seconds", "0"),
        2,
        ("--poll-interval-seconds", "must be more than 0 seconds, got '0'"),
        K,
    ),
    Case("plain words for a maximum", ("--page-size", "1001"), 2, ("must be at most 1000, got '1001'",), K),
    Case(
        "plain words for a number", ("--max-retries", "many"), 2, ("must be a whole number, got 'many'",), K
    ),
    Case(
        "plain words for a choice",
        ("--log-format", "xml"),
        2,
        ("EXTEND_EXPORTER_LOG_FORMAT", "must be text or json, got 'xml'"),
        K,
    ),
    Case(
        "plain words for a boolean",
        (),
        2,
        ("EXTEND_EXPORTER_PER_RESOURCE_LABELS", "must be true or false, got 'maybe'"),
        {**K, "EXTEND_EXPORTER_PER_RESOURCE_LABELS": "maybe"},
    ),
    # check
    Case("check: flag it does not use", ("check", "--listen-address", "x:1"), 2, ("--listen-address",), K),
    Case("check: state file not used", ("check", "--state-file", "/tmp/x"), 2, ("--state-file",), K),
    Case(
        "check: refused", (*CHECK, "--api-base-url", "http://{FREE}"), 1, ("connection refused", "1 try"), K
    ),
    Case("check: DNS", (*CHECK, "--api-base-url", "http://extend.invalid"), 1, ("DNS",), K),
    Case("check: TLS mismatch", (*CHECK, "--api-base-url", "{SIM_TLS}"), 1, ("TLS",), K),
    Case(
        "check: org key without workspace",
        (*CHECK, "--api-base-url", "{SIM}"),
        1,
        ("401", "EXTEND_WORKSPACE_ID"),
        {"EXTEND_API_KEY": ORG_KEY},
        never_says=(ORG_KEY,),
    ),
    # demo names only its own flags
    Case(
        "demo: bad listen", ("demo", "--listen", "99999"), 2, ("--listen",), never_says=("--listen-address",)
    ),
    Case(
        "demo: listen in use",
        ("demo", "--listen", "{BUSY}"),
        2,
        ("--listen", "in use"),
        never_says=("--listen-address",),
    ),
    Case("demo: bad interval", ("demo", "--poll-interval", "soon"), 2, ("--poll-interval",)),
    Case("demo: settings flag", ("demo", "--api-key", "x"), 2, ("unrecognized", "--api-key")),
    # simulate
    Case(
        "simulate: listen in use",
        ("simulate", "--listen", "{BUSY}", "--history", "10"),
        2,
        ("--listen", "in use"),
    ),
    Case("simulate: bad listen", ("simulate", "--listen", "nowhere"), 2, ("--listen",)),
    Case("simulate: bad start", ("simulate", "--start", "yesterday"), 2, ("--start",)),
    Case("simulate: bad choice", ("simulate", "--cursor-mode", "random"), 2, ("--cursor-mode", "offset")),
    Case(
        "simulate: webhook url without secret",
        ("simulate", "--history", "10", "--webhook-url", "http://127.0.0.1:1/webhooks/extend"),
        2,
        ("--webhook-secret",),
    ),
    Case(
        "simulate: webhook fault not a fraction", ("simulate", "--webhook-drop", "5"), 2, ("--webhook-drop",)
    ),
    # healthcheck
    Case("healthcheck: nothing listens", ("healthcheck", "--url", "http://{FREE}/healthz"), 1, ("refused",)),
    Case("healthcheck: bad timeout", ("healthcheck", "--timeout", "x"), 2, ("--timeout",)),
    Case(
        "healthcheck: listen host",
        ("healthcheck", "--timeout", "1"),
        1,
        ("127.0.0.3",),
        {"EXTEND_EXPORTER_LISTEN_ADDRESS": "127.0.0.3:{FREE_PORT}"},
    ),
    # dashboards generator
    Case("generate: unknown knob", ("--set", "bogus=1", "--check"), 2, ("bogus",), module="grafana.generate"),
    Case(
        "generate: not NAME=VALUE",
        ("--set", "bogus", "--check"),
        2,
        ("NAME=VALUE",),
        module="grafana.generate",
    ),
    Case(
        "generate: wrong type",
        ("--set", "failed_spike_min_count=many", "--check"),
        2,
        ("many",),
        module="grafana.generate",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line(case: Case, world: dict[str, str]) -> None:
    names = {**world, "FREE_PORT": world["FREE"].rpartition(":")[2]}
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXTEND_")}
    env.update({k: v.format(**names) for k, v in case.env.items()})
    argv = [sys.executable, "-m", case.module, *(a.format(**names) for a in case.args)]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == case.exit_code, result.stderr
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in case.says:
        assert word in lines[0], lines[0]
    for word in (*case.never_says, CANARY, "Input should"):
        assert word not in result.stderr + result.stdout


def test_check_says_a_failure_once(world: dict[str, str]) -> None:
    """The table names each kind's reason; the cause itself is said once, on stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXTEND_")}
    env.update(K)
    argv = [sys.executable, "-m", "exporter", *CHECK[:3], "--api-base-url", world["SIM"]]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "FAILED (unauthorized)" in result.stdout
    assert (result.stdout + result.stderr).count("HTTP 401") == 1, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("1.5", 1.5), ("90s", 90.0), ("5m", 300.0), ("1h30m", 5400.0), ("250ms", 0.25)],
)
def test_durations_accept_units_and_plain_seconds(text: str, seconds: float) -> None:
    from exporter.config import load_settings

    settings = load_settings({"api_key": CANARY, "poll_interval_seconds": text, "sync_overlap_seconds": text})
    assert settings.poll_interval_seconds == seconds == settings.sync_overlap_seconds


def test_conventional_flags_parse() -> None:
    from exporter.cli import _settings_from, build_parser

    args = build_parser().parse_args(
        ["run", "--api-key", CANARY, "--per-resource-labels", "--log-level", "DEBUG"]
    )
    settings = _settings_from(args)
    assert settings.per_resource_labels is True and settings.log_level == "debug"
    args = build_parser().parse_args(["run", "--api-key", CANARY, "--no-per-resource-labels"])
    assert _settings_from(args).per_resource_labels is False


def test_standalone_simulator_clock_starts_now() -> None:
    import time

    from exporter.cli import build_parser
    from extend_simulator.cli import config_from_args

    config = config_from_args(build_parser().parse_args(["simulate"]))
    assert abs(config.epoch.timestamp() - time.time()) < 60
    fixed = config_from_args(build_parser().parse_args(["simulate", "--start", "2026-11-01T00:00:00Z"]))
    assert fixed.epoch.isoformat() == "2026-11-01T00:00:00+00:00"


def test_both_key_settings_warn_and_the_file_wins(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from exporter.cli import _key_source, _warn_both_keys
    from exporter.config import load_settings

    key_file = tmp_path / "key"
    key_file.write_text("sk_from_the_file_0001\n")
    settings = load_settings({"api_key": CANARY, "api_key_file": str(key_file)})
    with caplog.at_level(logging.WARNING, logger="exporter"):
        _warn_both_keys(settings)
    assert "using EXTEND_API_KEY_FILE" in caplog.text and CANARY not in caplog.text
    assert _key_source(settings)() == "sk_from_the_file_0001"
