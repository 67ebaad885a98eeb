"""Bad configuration: every setting's invalid values exit 2 with one line naming it (extends test_cli)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.exporter_process import free_port
from tests.test_cli import CANARY, run_cli

K = {"EXTEND_API_KEY": CANARY}

BAD = [
    ({"EXTEND_API_KEY": "   "}, "EXTEND_API_KEY"),
    ({"EXTEND_API_KEY": "sk two words"}, "EXTEND_API_KEY"),
    ({"EXTEND_API_KEY": "sk_t\u00e9st_" + CANARY}, "EXTEND_API_KEY"),
    ({"EXTEND_API_KEY": CANARY + "\x07"}, "EXTEND_API_KEY"),
    ({**K, "EXTEND_API_BASE_URL": "http://"}, "EXTEND_API_BASE_URL"),
    ({**K, "EXTEND_API_BASE_URL": "localhost:8080"}, "EXTEND_API_BASE_URL"),
    ({**K, "EXTEND_WORKSPACE_ID": "ws_1\nInjected: header"}, "EXTEND_WORKSPACE_ID"),
    ({**K, "EXTEND_WORKSPACE_ID": "ws 1"}, "EXTEND_WORKSPACE_ID"),
    ({**K, "EXTEND_WORKSPACE_ID": "ws_1,ws 2"}, "EXTEND_WORKSPACE_ID"),
    ({**K, "EXTEND_WORKSPACE_ID": "ws_1,ws_2,ws_1"}, "EXTEND_WORKSPACE_ID"),
    ({**K, "EXTEND_EXPORTER_LISTEN_ADDRESS": "localhost:"}, "LISTEN_ADDRESS"),
    ({**K, "EXTEND_EXPORTER_LISTEN_ADDRESS": "[::1]"}, "LISTEN_ADDRESS"),
    ({**K, "EXTEND_EXPORTER_POLL_INTERVAL_SECONDS": "inf"}, "POLL_INTERVAL"),
    ({**K, "EXTEND_EXPORTER_POLL_INTERVAL_SECONDS": "nan"}, "POLL_INTERVAL"),
    ({**K, "EXTEND_EXPORTER_POLL_INTERVAL_SECONDS": "1e15"}, "POLL_INTERVAL"),
    ({**K, "EXTEND_EXPORTER_MAX_REQUESTS_PER_SECOND": "101"}, "MAX_REQUESTS_PER_SECOND"),
    ({**K, "EXTEND_EXPORTER_MAX_REQUESTS_PER_SECOND": "fast"}, "MAX_REQUESTS_PER_SECOND"),
    ({**K, "EXTEND_EXPORTER_PAGE_SIZE": "0"}, "PAGE_SIZE"),
    ({**K, "EXTEND_EXPORTER_PAGE_SIZE": "ten"}, "PAGE_SIZE"),
    ({**K, "EXTEND_EXPORTER_SYNC_OVERLAP_SECONDS": "-1"}, "SYNC_OVERLAP"),
    ({**K, "EXTEND_EXPORTER_SYNC_OVERLAP_SECONDS": "inf"}, "SYNC_OVERLAP"),
    ({**K, "EXTEND_EXPORTER_RECONCILE_INTERVAL_SECONDS": "0"}, "RECONCILE_INTERVAL"),
    ({**K, "EXTEND_EXPORTER_RECONCILE_INTERVAL_SECONDS": "inf"}, "RECONCILE_INTERVAL"),
    ({**K, "EXTEND_EXPORTER_REQUEST_TIMEOUT_SECONDS": "0"}, "REQUEST_TIMEOUT"),
    ({**K, "EXTEND_EXPORTER_REQUEST_TIMEOUT_SECONDS": "inf"}, "REQUEST_TIMEOUT"),
    ({**K, "EXTEND_EXPORTER_MAX_RETRIES": "-1"}, "MAX_RETRIES"),
    ({**K, "EXTEND_EXPORTER_MAX_RETRIES": "21"}, "MAX_RETRIES"),
    ({**K, "EXTEND_EXPORTER_MAX_RETRIES": "1.5"}, "MAX_RETRIES"),
    ({**K, "EXTEND_EXPORTER_PER_RESOURCE_LABELS": "maybe"}, "PER_RESOURCE_LABELS"),
    ({**K, "EXTEND_EXPORTER_PER_RESOURCE_MAX": "0"}, "PER_RESOURCE_MAX"),
    ({**K, "EXTEND_EXPORTER_PER_RESOURCE_MAX": "lots"}, "PER_RESOURCE_MAX"),
    ({**K, "EXTEND_EXPORTER_WEB_CONFIG_FILE": "/nonexistent/web.yml"}, "WEB_CONFIG_FILE"),
    ({**K, "EXTEND_EXPORTER_USAGE_TAGS": "team a"}, "USAGE_TAGS"),
    ({**K, "EXTEND_EXPORTER_USAGE_TAGS": ",".join(f"t{i}" for i in range(51))}, "USAGE_TAGS"),
]


def _assert_one_line(result_stderr: str, result_stdout: str, setting: str) -> None:
    lines = result_stderr.strip().splitlines()
    assert len(lines) == 1, result_stderr
    assert setting in lines[0]
    assert "Traceback" not in result_stderr
    assert CANARY not in result_stderr + result_stdout


@pytest.mark.parametrize(
    ("env", "setting"), BAD, ids=[f"{s}={next(iter(e.values()))!r}"[:60] for e, s in BAD]
)
def test_invalid_value_exits_2_with_one_line(env: dict[str, str], setting: str) -> None:
    env = {
        **env,
        "EXTEND_EXPORTER_LISTEN_ADDRESS": env.get(
            "EXTEND_EXPORTER_LISTEN_ADDRESS", f"127.0.0.1:{free_port()}"
        ),
    }
    result = run_cli(env=env, timeout=20)
    assert result.returncode == 2, result.stderr
    _assert_one_line(result.stderr, result.stdout, setting)


WEB_CONFIGS = {
    "not YAML": "basic_auth_users: [unclosed\n",
    "not a mapping": "- a\n- b\n",
    "unknown key": "tls_config: {}\n",
    "plain-text password": "basic_auth_users:\n  alice: secret\n",
    "malformed bcrypt": "basic_auth_users:\n  alice: $2b$12$tooshort\n",
    "users not a mapping": "basic_auth_users: [alice]\n",
    "TLS without key_file": "tls_server_config:\n  cert_file: cert.pem\n",
    "TLS files missing": "tls_server_config:\n  cert_file: nope.pem\n  key_file: nope.key\n",
}


@pytest.mark.parametrize("case", list(WEB_CONFIGS))
def test_invalid_web_config_exits_2_with_one_line(tmp_path: Path, case: str) -> None:
    path = tmp_path / "web.yml"
    path.write_text(WEB_CONFIGS[case])
    env = {
        **K,
        "EXTEND_API_BASE_URL": f"http://127.0.0.1:{free_port()}",
        "EXTEND_EXPORTER_LISTEN_ADDRESS": f"127.0.0.1:{free_port()}",
        "EXTEND_EXPORTER_WEB_CONFIG_FILE": str(path),
    }
    result = run_cli(env=env, timeout=20)
    assert result.returncode == 2, result.stderr
    _assert_one_line(result.stderr, result.stdout, "WEB_CONFIG_FILE")


def test_listen_address_in_use_exits_2(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {
            **K,
            "EXTEND_API_BASE_URL": f"http://127.0.0.1:{free_port()}",
            "EXTEND_EXPORTER_LISTEN_ADDRESS": f"127.0.0.1:{port}",
        }
        result = run_cli(env=env, timeout=20)
    assert result.returncode == 2, result.stderr
    _assert_one_line(result.stderr, result.stdout, "LISTEN_ADDRESS")


def test_surrounding_whitespace_of_the_key_is_dropped() -> None:
    """A trailing newline (a Secret made with `echo`) is not an error, and is not sent."""
    from pydantic import SecretStr

    from exporter.api.apikey import ApiKeySource

    assert ApiKeySource(SecretStr(f"  {CANARY}\n"), None)() == CANARY
