"""Whether a delivery comes from Extend: its signature and timestamp, checked as Extend's SDK does.

The signature is HMAC-SHA256, keyed by the endpoint's signing secret (its UTF-8 bytes), over
`v0:{timestamp}:{raw body}`, sent as lowercase hex in `x-extend-request-signature`; the timestamp (Unix
seconds) in `x-extend-request-timestamp`. It is checked against the raw bytes, before any parsing, in
constant time, against every configured secret (rotation). Only then the timestamp: older than 300 s
or more than 60 s ahead is a replay (or a clock gone wrong), refused as stale.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from enum import StrEnum

TIMESTAMP_HEADER = "x-extend-request-timestamp"
SIGNATURE_HEADER = "x-extend-request-signature"
MAX_AGE_SECONDS = 300
MAX_SKEW_SECONDS = 60


class Verdict(StrEnum):
    OK = "ok"
    BAD_SIGNATURE = "bad_signature"  # missing, or made with none of the secrets
    STALE = "stale"  # authentic, but its timestamp is outside the window (or not a number)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The signature Extend sends with `body` at `timestamp`."""
    message = b"v0:" + timestamp.encode("utf-8", "surrogateescape") + b":" + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify(
    secrets: Sequence[str], timestamp: str | None, signed: str | None, body: bytes, now: float
) -> Verdict:
    """Check a delivery's headers against its raw body at time `now` (Unix seconds)."""
    if not timestamp or not signed or not secrets:
        return Verdict.BAD_SIGNATURE
    given = signed.strip().encode("latin-1", "replace")
    matched = False
    for secret in secrets:  # all of them, whichever matches: the time taken says nothing
        matched |= hmac.compare_digest(signature(secret, timestamp.strip(), body).encode(), given)
    if not matched:
        return Verdict.BAD_SIGNATURE
    try:
        sent = int(timestamp.strip())
    except ValueError:
        return Verdict.STALE
    if sent < now - MAX_AGE_SECONDS or sent > now + MAX_SKEW_SECONDS:
        return Verdict.STALE
    return Verdict.OK
