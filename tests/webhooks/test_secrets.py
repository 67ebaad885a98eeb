"""The signing secrets: a comma list, a file re-read when it changes, errors that never quote them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from exporter.webhooks.secrets import WebhookSecretError, WebhookSecrets, parse_secrets

SECRET = "wss_secret_canary_3f9a2c"


def test_a_comma_list_for_rotation() -> None:
    assert parse_secrets(f" {SECRET} , wss_next ,, {SECRET}\n") == [SECRET, "wss_next"]
    assert WebhookSecrets(SecretStr(f"{SECRET},wss_next"), None)() == [SECRET, "wss_next"]


@pytest.mark.parametrize("text", ["", " , ", f"{SECRET} x", f"{SECRET}\x00", "wss_é"])
def test_not_a_secret_is_refused_without_quoting_it(text: str) -> None:
    with pytest.raises(WebhookSecretError) as err:
        WebhookSecrets(SecretStr(text), None)
    assert err.value.setting == "webhook_secret"
    assert SECRET not in str(err.value)


def test_the_file_is_reread_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text(f"{SECRET}\n")
    secrets = WebhookSecrets(None, path)
    assert secrets() == [SECRET]
    path.write_text(f"{SECRET},wss_rotated_in\n")
    os.utime(path, ns=(1, 1))  # a new stamp even within one mtime tick
    assert secrets() == [SECRET, "wss_rotated_in"]
    path.write_text("bad secret with spaces")
    os.utime(path, ns=(2, 2))
    assert secrets() == [SECRET, "wss_rotated_in"]  # unusable: the previous ones stay
    assert secrets.redacted() == [SECRET, "wss_rotated_in"]


def test_a_missing_or_empty_file_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(WebhookSecretError, match="cannot read"):
        WebhookSecrets(None, tmp_path / "nope")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(WebhookSecretError, match="no secret"):
        WebhookSecrets(None, tmp_path / "empty")
