"""The webhook endpoint's signing secrets: from the environment, or a file re-read when it changes.

A comma list is accepted so a secret can be rotated without losing deliveries: put the new secret next
to the old one, roll the endpoint's secret in Extend, then drop the old one. Values are never logged;
the log filter redacts them like the API key.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import SecretStr

from ..secretfile import WatchedFile

log = logging.getLogger(__name__)

MAX_SECRET_LENGTH = 4096


class WebhookSecretError(Exception):
    """The secret (file) is missing, empty or malformed; the message never contains a secret."""

    def __init__(self, message: str, setting: str = "webhook_secret_file") -> None:
        super().__init__(message)
        self.setting = setting  # the Settings field at fault


def parse_secrets(text: str) -> list[str]:
    """The secrets of a comma list; WebhookSecretError when one is not a token of visible ASCII."""
    secrets = [s.strip() for s in text.split(",") if s.strip()]
    if not secrets:
        raise WebhookSecretError("no secret in it")
    for secret in secrets:
        if len(secret) > MAX_SECRET_LENGTH or not all(0x21 <= ord(c) <= 0x7E for c in secret):
            raise WebhookSecretError("a secret holds whitespace, control or non-ASCII characters")
    return list(dict.fromkeys(secrets))


def _read(path: Path) -> list[str]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise WebhookSecretError(f"cannot read {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookSecretError(f"{path} is not UTF-8 text") from None
    try:
        return parse_secrets(text)
    except WebhookSecretError as exc:
        raise WebhookSecretError(f"{path}: {exc}") from None


class WebhookSecrets:
    """Callable: the secrets in use now. The file, when given, wins over the value."""

    def __init__(self, value: SecretStr | None, path: Path | None) -> None:
        self._fixed: list[str] = []
        if value is not None and path is None:
            try:
                self._fixed = parse_secrets(value.get_secret_value())
            except WebhookSecretError as exc:
                raise WebhookSecretError(str(exc), "webhook_secret") from None
        self._file = (
            WatchedFile(path, _read, what="webhook secret file", log=log, errors=(WebhookSecretError,))
            if path is not None
            else None
        )

    def __call__(self) -> list[str]:
        return self._file.current() if self._file is not None else self._fixed

    def redacted(self) -> list[str]:
        """Every secret in use, for log redaction (never re-reads the file)."""
        return list(self._file.value) if self._file is not None else list(self._fixed)
