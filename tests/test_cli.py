"""Command-line behaviour that needs no API: bad settings exit 2 with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CANARY = "sk_canary_3f9a1b7c0d2e4f6a"


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("EXTEND_")}
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args], env=base, capture_output=True, text=True, timeout=timeout
    )


BAD_SETTINGS = [
    ({}, "EXTEND_API_KEY"),
    ({"EXTEND_API_KEY": CANARY, "EXTEND_API_BASE_URL": "api.extend.ai"}, "EXTEND_API_BASE_URL"),
    ({"EXTEND_API_KEY": CANARY, "EXTEND_API_BASE_URL": "ftp://x"}, "EXTEND_API_BASE_URL"),
    ({"EXTEND_API_KEY": CANARY, "EXTEND_API_VERSION": "2024-12-23"}, "EXTEND_API_VERSION"),
    ({"EXTEND_API_KEY": CANARY, "EXTEND_EXPORTER_KINDS": "extract_run,bogus"}, "EXTEND_EXPORTER_KINDS"),
    (
        {"EXTEND_API_KEY": CANARY, "EXTEND_API_VERSION": "2025-04-21", "EXTEND_EXPORTER_KINDS": "parse_run"},
        "EXTEND_EXPORTER_KINDS",
    ),
    ({"EXTEND_API_KEY": CANARY, "EXTEND_EXPORTER_POLL_INTERVAL_SECONDS": "0"}, "POLL_INTERVAL"),
    ({"EXTEND_API_KEY": CANARY, "EXTEND_EXPORTER_POLL_INTERVAL_SECONDS": "-5"}, "POLL_INTERVAL"),
    ({"EXTEND_API_KEY": CANARY, "EXTEND_EXPORTER_POLL_INTERVAL_SECONDS": "soon"}, "POLL_INTERVAL"),
    ({"EXTEND_API_KEY": CANARY, "EXTEND_EXPORTER_MAX_REQUESTS_PER_SECOND": "0"}, "MAX_REQUESTS_PER_SECOND"),
    ({"EXTEND_API_KEY": CANARY, "EXTEND_EXPORTER_LISTEN_ADDRESS": "9864"}, "LISTEN_ADDRESS"),
    ({"EXTEND_API_KEY": CANARY, "EXTEND_EXPORTER_LISTEN_ADDRESS": "0.0.0.0:99999"}, "LISTEN_ADDRESS"),
    ({"EXTEND_API_KEY": CANARY, "EXTEND_EXPORTER_LOG_LEVEL": "loud"}, "LOG_LEVEL"),
    ({"EXTEND_API_KEY": CANARY, "EXTEND_EXPORTER_LOG_FORMAT": "xml"}, "LOG_FORMAT"),
    ({"EXTEND_API_KEY": CANARY, "EXTEND_EXPORTER_PAGE_SIZE": "1001"}, "PAGE_SIZE"),
    ({"EXTEND_API_KEY_FILE": "/nonexistent/key"}, "EXTEND_API_KEY_FILE"),
]


@pytest.mark.parametrize(("env", "setting"), BAD_SETTINGS, ids=[s for _, s in BAD_SETTINGS])
def test_bad_setting_exits_2_with_one_line(env: dict[str, str], setting: str) -> None:
    result = run_cli(env=env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert setting in lines[0]
    assert "Traceback" not in result.stderr
    assert CANARY not in result.stderr + result.stdout


@pytest.mark.parametrize("content", [b"", b"\n\n", b"two words\n", b"\xff\xfe\x00garbage", b"a\x00b"])
def test_garbage_key_file_exits_2(tmp_path: Path, content: bytes) -> None:
    key_file = tmp_path / "key"
    key_file.write_bytes(content)
    result = run_cli(env={"EXTEND_API_KEY_FILE": str(key_file)})
    assert result.returncode == 2
    assert "EXTEND_API_KEY_FILE" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_cli_flag_overrides_environment() -> None:
    result = run_cli("--poll-interval-seconds", "0", env={"EXTEND_API_KEY": CANARY})
    assert result.returncode == 2
    assert "--poll-interval-seconds" in result.stderr


def test_help_documents_every_setting() -> None:
    from exporter.config import Settings, env_name, flag_name

    result = run_cli("run", "--help")
    assert result.returncode == 0
    for name in Settings.model_fields:
        assert flag_name(name) in result.stdout
        assert env_name(name) in result.stdout


def test_healthcheck_fails_when_nothing_listens() -> None:
    from tests.exporter_process import free_port

    result = run_cli("healthcheck", "--url", f"http://127.0.0.1:{free_port()}/healthz", "--timeout", "1")
    assert result.returncode == 1
