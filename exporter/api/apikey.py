"""Where the API key comes from: the environment, or a file re-read whenever it changes."""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import SecretStr

from ..secretfile import WatchedFile

log = logging.getLogger("exporter.apikey")  # the name log lines carried before the module moved

MAX_KEY_LENGTH = 4096


class ApiKeyError(Exception):
    """The key (file) is missing, empty or not a key; the message never contains the key or file contents."""

    def __init__(self, message: str, setting: str = "api_key_file") -> None:
        super().__init__(message)
        self.setting = setting  # the Settings field at fault


def _read_key(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ApiKeyError(f"cannot read {path}: {exc.strerror}") from None
    try:
        key = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ApiKeyError(f"{path} is not UTF-8 text") from None
    if not key:
        raise ApiKeyError(f"{path} is empty")
    if not _plausible(key):
        raise ApiKeyError(f"{path} does not hold a single API key (whitespace or control characters)")
    return key


def _plausible(key: str) -> bool:
    """One token of visible ASCII: anything else cannot go into an Authorization header."""
    return 0 < len(key) <= MAX_KEY_LENGTH and all(0x21 <= ord(c) <= 0x7E for c in key)


class ApiKeySource:
    def __init__(self, key: SecretStr | None, path: Path | None) -> None:
        # Surrounding whitespace (a trailing newline from a Secret) is dropped, as for the key file; an
        # empty EXTEND_API_KEY next to EXTEND_API_KEY_FILE counts as unset.
        fixed = key.get_secret_value().strip() if key is not None else ""
        self._fixed = fixed or None
        if (key is not None and path is None and not fixed) or (fixed and not _plausible(fixed)):
            # Never echo the value: it is a secret even when malformed.
            raise ApiKeyError(
                "not a single API key (empty, whitespace, control or non-ASCII characters)", "api_key"
            )
        self._file = (
            WatchedFile(path, _read_key, what="API key file", log=log, errors=(ApiKeyError,))
            if path is not None
            else None
        )

    def secrets(self) -> list[str]:
        """Every key value in use, for log redaction."""
        return [k for k in (self._fixed, self._file.value if self._file else None) if k]

    def __call__(self) -> str:
        if self._file is None:
            assert self._fixed is not None
            return self._fixed
        return self._file.current()
