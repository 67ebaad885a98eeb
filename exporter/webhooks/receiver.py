"""What a delivery is answered, what it is counted as, and which hints it gives: no HTTP here.

In order: too large (413, before the body is read), then the signature (401 when missing or wrong; an
unsigned body is never parsed), the timestamp (400 stale), the envelope (400 malformed). A verified
event of a known type whose `eventId` was seen within the last DEDUPE_WINDOW events is a duplicate
(200, nothing else); otherwise it is accepted (200) and its hints are given. Unknown types are
answered 200 too (Extend adds types without a new API version) and give no hint. The answer never
waits for a sync: hints only ask for one.

Every outcome is counted in extend_webhook_events_total{event_type, outcome}; event types outside the
known list count under OTHER, and refused deliveries (whose body is not read) under UNKNOWN.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson

from ..logs import RepeatThrottle
from ..metrics.labels import UNKNOWN
from .events import Event, Malformed, parse_event
from .hints import Hints
from .verify import Verdict, verify

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
# Event IDs remembered to answer a redelivery "duplicate" (redeliveries come within minutes; a
# replay older than 300 s is refused as stale anyway). About 100 bytes each.
DEDUPE_WINDOW = 10_000
# A refusal (an attacker, a wrong secret, a skewed clock) is logged once per this many seconds per
# outcome, with the number held back.
REFUSAL_LOG_SECONDS = 60.0


@dataclass(frozen=True)
class Answer:
    status: int
    outcome: str
    text: str


class SeenEvents:
    """The last `size` event IDs, oldest forgotten first."""

    def __init__(self, size: int = DEDUPE_WINDOW) -> None:
        self._size = size
        self._ids: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, event_id: str) -> bool:
        """Remember the ID; False when it is already remembered."""
        with self._lock:
            if event_id in self._ids:
                return False
            self._ids[event_id] = None
            if len(self._ids) > self._size:
                self._ids.popitem(last=False)
            return True


class Receiver:
    def __init__(
        self,
        secrets: Callable[[], Sequence[str]],
        hints: Hints,
        count: Callable[[str, str], None],
        accepted_at: Callable[[float], None],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`count(event_type, outcome)` counts a delivery; `accepted_at(time)` notes an accepted one."""
        self._secrets = secrets
        self._hints = hints
        self._count = count
        self._accepted_at = accepted_at
        self._clock = clock
        self._seen = SeenEvents()
        self._refusals = RepeatThrottle(REFUSAL_LOG_SECONDS)

    def too_large(self, length: int) -> Answer:
        return self._refuse("too_large", 413, f"body of {length} bytes is over {MAX_BODY_BYTES}")

    def malformed(self, why: str) -> Answer:
        return self._refuse("malformed", 400, why)

    def receive(self, timestamp: str | None, signature: str | None, body: bytes) -> Answer:
        if len(body) > MAX_BODY_BYTES:
            return self.too_large(len(body))
        verdict = verify(self._secrets(), timestamp, signature, body, self._clock())
        if verdict is Verdict.BAD_SIGNATURE:
            return self._refuse("bad_signature", 401, "missing or wrong signature")
        if verdict is Verdict.STALE:
            return self._refuse("stale", 400, "timestamp outside -300 s/+60 s of this host's clock")
        try:
            event = parse_event(orjson.loads(body))
        except (orjson.JSONDecodeError, Malformed) as exc:
            return self.malformed(str(exc) if isinstance(exc, Malformed) else "the body is not JSON")
        if not event.known:
            self._count(event.label, "unknown_type")
            log.debug(
                "webhook event %s of an unknown type %.100r: nothing to do", event.event_id, event.event_type
            )
            return Answer(200, "unknown_type", "ignored: unknown event type\n")
        if not self._seen.first_time(event.event_id):
            self._count(event.label, "duplicate")
            return Answer(200, "duplicate", "duplicate\n")
        self._count(event.label, "accepted")
        self._accepted_at(self._clock())
        self._give_hints(event)
        log.debug("webhook event %s (%s) accepted", event.event_id, event.event_type)
        return Answer(200, "accepted", "accepted\n")

    def _give_hints(self, event: Event) -> None:
        # The batch first: the syncs asked for next read it (a sync may start at once).
        if event.batch_id is not None:
            for kind in event.kinds:
                self._hints.watch_batch(kind, event.batch_id)
        for kind in event.kinds:
            self._hints.sync_kind_now(kind)

    def _refuse(self, outcome: str, status: int, why: str) -> Answer:
        self._count(UNKNOWN, outcome)
        log_now, held_back = self._refusals.check(outcome)
        if log_now:
            more = f" [{held_back} more since the last such line]" if held_back else ""
            log.warning("webhook delivery refused with %d (%s): %s%s", status, outcome, why, more)
        return Answer(status, outcome, f"{why}\n")
