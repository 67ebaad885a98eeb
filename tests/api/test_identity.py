"""extend_exporter_build_info names the workspace: its ID, or an irreversible key fingerprint."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from exporter.api.apikey import ApiKeySource
from exporter.api.identity import key_fingerprint, workspace_identity
from exporter.app import Exporter
from exporter.config import load_settings
from exporter.factory import build_exporter

KEY = "sk_live_0123456789abcdefghijklmnopqrstuv"


def _build_info_workspaces(exporter: Exporter) -> list[str]:
    text = exporter.exposition.refresh().text.decode()
    return [
        sample.labels["workspace"]
        for family in text_string_to_metric_families(text)
        if family.name == "extend_exporter_build_info"
        for sample in family.samples
    ]


def test_fingerprint_is_short_stable_and_reveals_nothing() -> None:
    fingerprint = key_fingerprint(KEY)
    assert re.fullmatch(r"key-[0-9a-f]{12}", fingerprint)
    assert fingerprint == key_fingerprint(KEY)
    assert fingerprint != key_fingerprint(KEY + "x")
    # Domain-separated: not a prefix of the key's plain SHA-256 (which could be looked up elsewhere).
    assert not hashlib.sha256(KEY.encode()).hexdigest().startswith(fingerprint.removeprefix("key-"))
    assert KEY not in fingerprint and KEY[-12:] not in fingerprint


def test_workspace_id_wins_over_the_fingerprint() -> None:
    assert workspace_identity("ws_abc123", KEY) == "ws_abc123"
    assert workspace_identity(None, KEY) == workspace_identity("", KEY) == key_fingerprint(KEY)


def test_build_info_follows_a_rotated_key_file_and_never_shows_the_key(tmp_path: Path) -> None:
    key_file = tmp_path / "api-key"
    key_file.write_text(KEY + "\n")
    settings = load_settings({"api_key_file": str(key_file), "api_base_url": "http://127.0.0.1:9"})
    exporter = build_exporter(settings, ApiKeySource(None, key_file))
    assert _build_info_workspaces(exporter) == [key_fingerprint(KEY)]

    rotated = "sk_live_rotated_9876543210zyxwvutsrqponm"
    key_file.write_text(rotated + "\n")
    os.utime(key_file, ns=(1, 1))  # a new stamp even within the file system's timestamp granularity
    exporter.refresh_exposition()
    assert _build_info_workspaces(exporter) == [key_fingerprint(rotated)]
    text = exporter.exposition.refresh().text.decode()
    assert KEY not in text and rotated not in text


def test_build_info_carries_the_workspace_id_when_set() -> None:
    settings = load_settings(
        {"api_key": KEY, "workspace_id": "ws_abc123", "api_base_url": "http://127.0.0.1:9"}
    )
    exporter = build_exporter(settings, ApiKeySource(settings.api_key, None))
    assert _build_info_workspaces(exporter) == ["ws_abc123"]
