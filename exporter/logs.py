"""Logging set-up: text or JSON lines on stderr, with every known secret redacted."""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Hashable

REDACTED = "[REDACTED]"
# A key shorter than this is not a real credential (Extend keys are dozens of characters); replacing
# every occurrence of, say, `k` would corrupt every line, so such keys are left alone (start-up warns).
MIN_REDACTED_LENGTH = 8
SUBSTRING_REDACTED_LENGTH = 20
# Characters a key is made of: a match only counts where it is not part of a longer token.
_TOKEN_CHARS = r"A-Za-z0-9_\-"


def redactable(secret: str) -> bool:
    return len(secret) >= MIN_REDACTED_LENGTH


def redact(message: str, secrets: list[str]) -> str:
    """`message` with each whole occurrence of a secret replaced; substrings of longer tokens are kept."""
    for secret in secrets:
        if not redactable(secret) or secret not in message:
            continue
        if len(secret) >= SUBSTRING_REDACTED_LENGTH:
            # Long enough never to occur by chance: gone even when glued to other text.
            message = message.replace(secret, REDACTED)
        else:
            pattern = rf"(?<![{_TOKEN_CHARS}]){re.escape(secret)}(?![{_TOKEN_CHARS}])"
            message = re.sub(pattern, REDACTED, message)
    return message


class RedactingFilter(logging.Filter):
    """Last line of defence: no log record leaves with an API key in it, whatever logged it."""

    def __init__(self, secrets: Callable[[], list[str]]) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg = redact(message, self._secrets())
        record.args = None
        return True


class RepeatThrottle:
    """Says whether to log an error that may be the same as the last ones (a revoked key fails every
    sync of every kind): the first of a kind of error is logged, identical ones are counted and logged
    again, with the count, at most once per `interval` seconds.
    """

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (time last logged, occurrences not logged since)
        self._seen: dict[Hashable, tuple[float, int]] = {}

    def check(self, key: Hashable) -> tuple[bool, int]:
        """(log it now?, how many identical occurrences were held back since it was last logged)."""
        now = self._clock()
        with self._lock:
            last = self._seen.get(key)
            if last is None or now - last[0] >= self.interval:
                self._seen[key] = (now, 0)
                return True, last[1] if last else 0
            self._seen[key] = (last[0], last[1] + 1)
            return False, last[1] + 1

    def clear(self, match: Callable[[Hashable], bool]) -> int:
        """Forget the keys `match` selects (the error stopped); returns how many occurrences they had."""
        with self._lock:
            gone = [k for k in self._seen if match(k)]
            return sum(self._seen.pop(k)[1] + 1 for k in gone)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                + f".{int(record.msecs):03d}Z",
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
            }
        )


def setup_logging(level: str, fmt: str, secrets: Callable[[], list[str]] = list) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter(secrets))
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every request at INFO; keep that for debug.
    logging.getLogger("httpx").setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.INFO if level == "debug" else logging.WARNING)
    # "maximum number of running instances reached" is expected when a sync outlasts the interval.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
