"""The webhook listener's own web config: TLS like the main server's, basic auth refused by name."""

from __future__ import annotations

import ssl
from pathlib import Path

import bcrypt
import httpx
import pytest
import trustme
from pydantic import SecretStr

from exporter.api.apikey import ApiKeySource
from exporter.app import Exporter
from exporter.config import ConfigError, load_settings
from exporter.factory import build_exporter
from exporter.webhooks.secrets import WebhookSecrets
from tests.exporter_process import free_port

SECRET = "wss_tls_test_secret"


def _web_config(tmp_path: Path, extra: str = "") -> tuple[Path, ssl.SSLContext]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_pem.write_to_path(str(tmp_path / "tls.key"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "tls.crt"))
    path = tmp_path / "webhooks-web.yml"
    path.write_text("tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n" + extra)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return path, client


def _start(web_config: Path) -> tuple[Exporter, int]:
    port = free_port()
    settings = load_settings(
        {
            "api_key": "sk_tls_0123456789abcdef",
            "kinds": "extract_run",
            "webhook_listen_address": f"127.0.0.1:{port}",
            "webhook_secret": SECRET,
            "webhook_web_config_file": str(web_config),
        }
    )
    exporter = build_exporter(settings, ApiKeySource(settings.api_key, None))
    exporter.start_webhook_listener(WebhookSecrets(SecretStr(SECRET), None))
    return exporter, port


def test_deliveries_over_tls(tmp_path: Path) -> None:
    path, client = _web_config(tmp_path)
    exporter, port = _start(path)
    try:
        response = httpx.post(f"https://127.0.0.1:{port}/webhooks/extend", content=b"{}", verify=client)
        assert response.status_code == 401  # served over TLS, refused for its missing signature
        with pytest.raises(httpx.HTTPError):
            httpx.post(f"http://127.0.0.1:{port}/webhooks/extend", content=b"{}", timeout=2)
    finally:
        exporter.stop(deadline_seconds=5)


def test_basic_auth_is_refused_by_name(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()
    path, _ = _web_config(tmp_path, f"basic_auth_users:\n  prometheus: '{hashed}'\n")
    with pytest.raises(ConfigError, match=r"EXTEND_EXPORTER_WEBHOOK_WEB_CONFIG_FILE.*basic_auth_users"):
        _start(path)


def test_a_bad_file_names_the_webhook_setting(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n")
    with pytest.raises(
        ConfigError, match=r"EXTEND_EXPORTER_WEBHOOK_WEB_CONFIG_FILE \(--webhook-web-config-file\)"
    ):
        _start(path)
