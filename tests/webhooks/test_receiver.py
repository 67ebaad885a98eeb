"""What each delivery is answered and counted as, and which hints it gives (no sockets here)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import pytest

from exporter.metrics.labels import OTHER, UNKNOWN
from exporter.webhooks.receiver import DEDUPE_WINDOW, MAX_BODY_BYTES, Receiver, SeenEvents
from exporter.webhooks.verify import signature

SECRET = "wss_receiver_test_secret"
NOW = 1_800_000_000.0


@dataclass
class Recorded:
    syncs: list[str] = field(default_factory=list)
    batches: list[tuple[str, str]] = field(default_factory=list)
    counts: list[tuple[str, str]] = field(default_factory=list)
    accepted: list[float] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)  # both kinds of hint, in the order given

    def sync_kind_now(self, kind: str) -> None:
        self.syncs.append(kind)
        self.calls.append(f"sync {kind}")

    def watch_batch(self, kind: str, batch_id: str) -> None:
        self.batches.append((kind, batch_id))
        self.calls.append(f"watch {kind}")


@pytest.fixture
def rec() -> Recorded:
    return Recorded()


@pytest.fixture
def receiver(rec: Recorded) -> Receiver:
    return Receiver(
        lambda: [SECRET],
        rec,
        lambda t, o: rec.counts.append((t, o)),
        rec.accepted.append,
        clock=lambda: NOW,
    )


def body(event_type: str = "extract_run.failed", event_id: str = "evt_1", **payload: object) -> bytes:
    return json.dumps(
        {"eventId": event_id, "eventType": event_type, "payload": payload or {"id": "exr_1"}}
    ).encode()


def signed(raw: bytes, ts: float = NOW, secret: str = SECRET) -> tuple[str, str, bytes]:
    return str(int(ts)), signature(secret, str(int(ts)), raw), raw


def test_an_event_is_accepted_once_and_hints_its_kinds(receiver: Receiver, rec: Recorded) -> None:
    first = receiver.receive(*signed(body()))
    again = receiver.receive(*signed(body()))  # a redelivery: same eventId, fresh signature
    assert (first.status, first.outcome) == (200, "accepted")
    assert (again.status, again.outcome) == (200, "duplicate")
    assert rec.syncs == ["extract_run", "processor_run"]
    assert rec.counts == [("extract_run.failed", "accepted"), ("extract_run.failed", "duplicate")]
    assert rec.accepted == [NOW]


def test_a_batch_event_names_its_batch_for_each_kind(receiver: Receiver, rec: Recorded) -> None:
    answer = receiver.receive(*signed(body("batch_parse_run.processed", object="batch_run", id="bpr_9")))
    assert answer.outcome == "accepted"
    assert rec.syncs == ["parse_run"] and rec.batches == [("parse_run", "bpr_9")]


def test_a_batch_processor_run_event_watches_its_batch_as_each_candidate_before_any_sync(
    receiver: Receiver, rec: Recorded
) -> None:
    """The event names no run type: the batch is watched as each candidate kind (resolved from the API
    later), and all of that before a sync is asked for, since a hinted sync may start at once."""
    stub = {"object": "signed_data_url", "data": "https://example.invalid/x", "id": "bpr_7"}
    answer = receiver.receive(*signed(body("batch_processor_run.failed", **stub)))
    assert answer.outcome == "accepted"
    kinds = ["extract_run", "classify_run", "split_run", "processor_run"]
    assert rec.batches == [(k, "bpr_7") for k in kinds]
    assert rec.calls == [f"watch {k}" for k in kinds] + [f"sync {k}" for k in kinds]


@pytest.mark.parametrize(
    ("headers", "status", "outcome"),
    [
        ((None, None), 401, "bad_signature"),
        ((str(int(NOW)), "0" * 64), 401, "bad_signature"),
        ((str(int(NOW) - 600), signature(SECRET, str(int(NOW) - 600), body())), 400, "stale"),
        ((str(int(NOW) + 120), signature(SECRET, str(int(NOW) + 120), body())), 400, "stale"),
    ],
)
def test_refused_deliveries_give_no_hint(
    receiver: Receiver, rec: Recorded, headers: tuple[str | None, str | None], status: int, outcome: str
) -> None:
    answer = receiver.receive(*headers, body())
    assert (answer.status, answer.outcome) == (status, outcome)
    assert rec.syncs == [] and rec.accepted == []
    assert rec.counts == [(UNKNOWN, outcome)]


def test_an_unsigned_body_is_never_parsed(receiver: Receiver, rec: Recorded) -> None:
    answer = receiver.receive(str(int(NOW)), "0" * 64, b"\xff not json")
    assert answer.outcome == "bad_signature"


@pytest.mark.parametrize("raw", [b"not json", b"[]", b'{"eventId": 1}', '{"eventId": "\u00e9"'.encode()])
def test_a_signed_body_that_is_not_an_envelope_is_malformed(
    receiver: Receiver, rec: Recorded, raw: bytes
) -> None:
    answer = receiver.receive(*signed(raw))
    assert (answer.status, answer.outcome) == (400, "malformed")
    assert rec.counts == [(UNKNOWN, "malformed")] and rec.syncs == []


def test_unknown_types_are_answered_200_and_counted_under_other(receiver: Receiver, rec: Recorded) -> None:
    for n in range(3):
        answer = receiver.receive(*signed(body("extractor.updated", event_id=f"evt_{n}")))
        assert (answer.status, answer.outcome) == (200, "unknown_type")
    assert rec.counts == [(OTHER, "unknown_type")] * 3 and rec.syncs == [] and rec.accepted == []


def test_too_large(receiver: Receiver, rec: Recorded) -> None:
    answer = receiver.receive(*signed(b" " * (MAX_BODY_BYTES + 1)))
    assert (answer.status, answer.outcome) == (413, "too_large")
    assert receiver.too_large(5 * MAX_BODY_BYTES).status == 413
    assert rec.counts == [(UNKNOWN, "too_large")] * 2


def test_refusals_are_logged_once_a_minute_without_the_secret(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            receiver.receive(str(int(NOW)), signature(SECRET + "x", str(int(NOW)), body()), body())
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "401 (bad_signature)" in lines[0]
    assert SECRET not in caplog.text


def test_the_dedupe_window_is_bounded() -> None:
    seen = SeenEvents(size=3)
    assert all(seen.first_time(f"e{n}") for n in range(4))
    assert not seen.first_time("e3")
    assert seen.first_time("e0")  # forgotten: oldest first
    assert DEDUPE_WINDOW >= 1000
