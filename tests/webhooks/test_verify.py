"""Signature and timestamp checks, against the formula of Extend's SDK (EXTEND_API.md §5.4)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from exporter.webhooks.verify import MAX_AGE_SECONDS, MAX_SKEW_SECONDS, Verdict, signature, verify

SECRET = "wss_0123456789abcdef"
NOW = 1_800_000_000.0
BODY = b'{"eventId":"evt_1","eventType":"extract_run.failed","payload":{}}'


def sdk_signature(secret: str, ts: int, raw_body: str) -> str:
    """The SDK's own expression, verbatim."""
    return hmac.new(secret.encode(), f"v0:{ts}:{raw_body}".encode(), hashlib.sha256).hexdigest()


def test_the_signature_is_the_sdks() -> None:
    ts = int(NOW)
    assert signature(SECRET, str(ts), BODY) == sdk_signature(SECRET, ts, BODY.decode())
    assert verify([SECRET], str(ts), sdk_signature(SECRET, ts, BODY.decode()), BODY, NOW) is Verdict.OK


def test_any_of_the_secrets_verifies_for_rotation() -> None:
    ts = str(int(NOW))
    old, new = "wss_old_secret_value", "wss_new_secret_value"
    for secret in (old, new):
        assert verify([old, new], ts, signature(secret, ts, BODY), BODY, NOW) is Verdict.OK
    assert verify([old], ts, signature(new, ts, BODY), BODY, NOW) is Verdict.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("timestamp", "signed"),
    [
        (None, "abc"),  # no timestamp header
        ("1800000000", None),  # no signature header
        ("", ""),
        ("1800000000", "0" * 64),  # wrong signature
        ("1800000000", signature(SECRET, "1800000000", BODY).upper()),  # lowercase hex only
        ("1800000000", signature(SECRET, "1800000000", BODY + b" ")),  # another body
        ("1800000001", signature(SECRET, "1800000000", BODY)),  # another timestamp
        ("1800000000", "é" * 64),  # not ASCII: refused, never an exception
    ],
)
def test_a_missing_or_wrong_signature_is_refused(timestamp: str | None, signed: str | None) -> None:
    assert verify([SECRET], timestamp, signed, BODY, NOW) is Verdict.BAD_SIGNATURE


def test_no_secret_verifies_nothing() -> None:
    ts = str(int(NOW))
    assert verify([], ts, signature(SECRET, ts, BODY), BODY, NOW) is Verdict.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("offset", "verdict"),
    [
        (-MAX_AGE_SECONDS, Verdict.OK),
        (-MAX_AGE_SECONDS - 1, Verdict.STALE),
        (-600, Verdict.STALE),  # a replay ten minutes later
        (MAX_SKEW_SECONDS, Verdict.OK),
        (MAX_SKEW_SECONDS + 1, Verdict.STALE),
    ],
)
def test_the_timestamp_window(offset: int, verdict: Verdict) -> None:
    ts = str(int(NOW) + offset)
    assert verify([SECRET], ts, signature(SECRET, ts, BODY), BODY, NOW) is verdict


def test_a_signed_timestamp_that_is_not_a_number_is_stale() -> None:
    assert verify([SECRET], "soon", signature(SECRET, "soon", BODY), BODY, NOW) is Verdict.STALE


def test_a_forged_old_request_is_a_bad_signature_not_stale() -> None:
    """The signature is checked first: only authentic deliveries are told their timestamp is off."""
    ts = str(int(NOW) - 600)
    assert verify([SECRET], ts, "f" * 64, BODY, NOW) is Verdict.BAD_SIGNATURE
