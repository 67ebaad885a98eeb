"""Extend's side of the webhook loop: signed deliveries of every run end, with faults to switch on.

``events_of(old, new)`` says which events a transition fires, as the endpoint's API version names them
(EXTEND_API.md §5.3): 2026-02-09 ``workflow_run.completed|failed|needs_review|rejected|cancelled``,
``{extract,classify,split,parse,edit}_run.processed|failed`` and, when a batch's last run ends,
``batch_processor_run.*`` / ``batch_parse_run.*``; 2025-04-21 ``workflow_run.*`` (no cancelled),
``processor_run.*`` (payload ``type`` EXTRACT/CLASSIFY/SPLITTER) and ``parser_run.*``. Verify runs and
cancelled processor runs fire none (Extend documents none).

``WebhookSender`` delivers them from one thread: each body ``{"eventId", "eventType", "payload"}`` is
POSTed with ``x-extend-request-timestamp`` (real Unix time, not the virtual clock: the receiver checks
it against its own) and ``x-extend-request-signature`` (lowercase hex HMAC-SHA256 over
``v0:{timestamp}:{body}``). A non-2xx answer or none is redelivered, freshly signed, up to
``redeliveries`` times, ``retry_seconds`` apart and doubling. ``WebhookFaults`` drops, duplicates,
delays, reorders or mis-signs events at the rates given; ``stats()`` is the ground truth of what was
generated, faulted, sent and answered.
"""

from __future__ import annotations

import collections
import hashlib
import heapq
import hmac
import itertools
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, replace
from typing import Any

import orjson

from .config import WebhookConfig
from .enums import (
    CANCELLED,
    FAILED,
    NEEDS_REVIEW,
    PROCESSED,
    PROCESSOR_FAMILIES,
    REJECTED,
    TERMINAL,
)
from .model import Run, World
from .views import JSON, Views

API_2025 = "2025-04-21"
# What stats() counts besides the answers: events made, their faults, attempts sent, redeliveries.
STATS = ("events", "dropped", "duplicated", "delayed", "reordered", "bad_signature", "sent", "redelivered")
# A reordered event waits for the next one at most this long.
REORDER_MAX_HOLD_SECONDS = 2.0
_WORKFLOW_2026 = {
    PROCESSED: "completed",
    FAILED: "failed",
    NEEDS_REVIEW: "needs_review",
    REJECTED: "rejected",
    CANCELLED: "cancelled",
}
_RUN_ENDS = {PROCESSED: "processed", FAILED: "failed"}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    message = b"v0:" + timestamp.encode() + b":" + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class EventSource:
    """The events one transition fires, named and shaped for the endpoint's API version."""

    def __init__(self, views: Views, world: World, api_version: str) -> None:
        self._views = views
        self._world = world
        self._legacy = api_version == API_2025

    def events_of(self, old: Run, new: Run) -> list[tuple[str, JSON]]:
        if old.status == new.status:
            return []
        out = self._run_event(new)
        if new.status in TERMINAL and new.batch >= 0 and new.fam != "workflow" and not self._legacy:
            out += self._batch_event(new)
        return out

    def _run_event(self, run: Run) -> list[tuple[str, JSON]]:
        v, fam, legacy = self._views, run.fam, self._legacy
        if fam == "workflow":
            ending = _WORKFLOW_2026.get(run.status)
            if ending is None or (legacy and ending == "cancelled"):
                return []
            payload = v.workflow_run_legacy(run) if legacy else v.workflow_run_2026(run)
            return [(f"workflow_run.{ending}", payload)]
        ending = _RUN_ENDS.get(run.status)
        if ending is None or fam == "verify" or (legacy and fam == "edit"):
            return []
        if fam in PROCESSOR_FAMILIES:
            if legacy:
                return [(f"processor_run.{ending}", v.processor_run_legacy(run))]
            return [(f"{fam}_run.{ending}", v.processor_run_2026(run))]
        if fam == "parse":
            summary = v.parse_run_2026(run)
            status = {k: summary[k] for k in ("id", "status", "failureReason", "failureMessage", "metadata")}
            prefix = "parser_run" if legacy else "parse_run"
            return [(f"{prefix}.{ending}", {"object": f"{prefix}_status", **status})]
        return [(f"edit_run.{ending}", v.edit_run_2026(run))]

    def _batch_event(self, run: Run) -> list[tuple[str, JSON]]:
        batch = self._world.batches[run.batch]
        members = [self._world.get(seq) for seq in batch.seqs]
        if any(m is not None and m.status not in TERMINAL for m in members):
            return []
        payload = self._views.batch_run(batch)
        ending = "failed" if payload["status"] == FAILED else "processed"
        kind = "batch_parse_run" if run.fam == "parse" else "batch_processor_run"
        return [(f"{kind}.{ending}", payload)]


@dataclass(frozen=True)
class Delivery:
    event_id: str
    body: bytes
    attempt: int = 0
    bad_signature: bool = False


class WebhookSender:
    def __init__(self, config: WebhookConfig, seed: int = 0) -> None:
        self.config = config
        self._rng = random.Random(f"extend-sim-webhooks-{seed}")
        self._ids = itertools.count(1)
        self._order = itertools.count()
        self._queue: list[tuple[float, int, Delivery]] = []  # (due, order, delivery)
        self._held: tuple[float, Delivery, int] | None = None  # reordered: (since, delivery, copies)
        self._cond = threading.Condition()
        self._stats: collections.Counter[str] = collections.Counter(dict.fromkeys(STATS, 0))
        self._answers: collections.Counter[int] = collections.Counter()
        self._sending = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="sim-webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=self.config.timeout_seconds + 5)

    # -- the events (called by the workload, under the simulator's lock) -----------------------------
    def event(self, event_type: str, payload: JSON) -> str:
        """Queue one event through the faults; returns its eventId."""
        faults, rng = self.config.faults, self._rng
        # Unique across senders and runs (the receiver remembers IDs); the faults stay seeded.
        event_id = f"evt_{next(self._ids):08d}{uuid.uuid4().hex[:12]}"
        body = orjson.dumps({"eventId": event_id, "eventType": event_type, "payload": payload})
        with self._cond:
            self._stats["events"] += 1
            if rng.random() < faults.drop:
                self._stats["dropped"] += 1
                return event_id
            delivery = Delivery(event_id, body, bad_signature=rng.random() < faults.bad_signature)
            self._stats["bad_signature"] += delivery.bad_signature
            due = time.monotonic()
            if rng.random() < faults.delay:
                self._stats["delayed"] += 1
                due += faults.delay_seconds
            copies = 2 if rng.random() < faults.duplicate else 1
            self._stats["duplicated"] += copies - 1
            held, self._held = self._held, None
            if rng.random() < faults.reorder and held is None:
                self._stats["reordered"] += 1
                self._held = (time.monotonic(), delivery, copies)  # sent after the next event
            else:
                self._push(due, delivery, copies)
            if held is not None:
                self._push(due, held[1], held[2])
            self._cond.notify_all()
        return event_id

    def _push(self, due: float, delivery: Delivery, copies: int = 1) -> None:
        for _ in range(copies):
            heapq.heappush(self._queue, (due, next(self._order), delivery))

    # -- ground truth -----------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """What was generated, faulted, sent (attempts), redelivered and answered; `pending`: queued,
        held or being sent."""
        with self._cond:
            pending = len(self._queue) + (self._held is not None) + self._sending
            answers = {str(code): n for code, n in sorted(self._answers.items())}
            return {**self._stats, "answers": answers, "pending": pending}

    # -- the delivery thread ----------------------------------------------------------------------
    def _next(self) -> Delivery | None:
        with self._cond:
            while not self._stop:
                now = time.monotonic()
                if self._held is not None and now - self._held[0] >= REORDER_MAX_HOLD_SECONDS:
                    self._push(now, self._held[1], self._held[2])
                    self._held = None
                if self._queue and self._queue[0][0] <= now:
                    self._sending += 1
                    return heapq.heappop(self._queue)[2]
                wait = min(self._queue[0][0] - now if self._queue else 0.5, 0.5)
                self._cond.wait(max(wait, 0.001))
            return None

    def _run(self) -> None:
        while (delivery := self._next()) is not None:
            code = self._post(delivery)
            with self._cond:
                self._sending -= 1
                self._stats["sent"] += 1
                self._answers[code] += 1
                if not 200 <= code < 300 and delivery.attempt < self.config.redeliveries:
                    self._stats["redelivered"] += 1
                    backoff = self.config.retry_seconds * 2**delivery.attempt
                    retry = replace(delivery, attempt=delivery.attempt + 1, bad_signature=False)
                    self._push(time.monotonic() + backoff, retry)
                    self._cond.notify_all()

    def _post(self, delivery: Delivery) -> int:
        """POST one delivery; its HTTP status, or 0 when there was no answer."""
        timestamp = str(int(time.time()))
        secret = "wss_not_the_secret" if delivery.bad_signature else self.config.secret
        request = urllib.request.Request(
            self.config.url,
            data=delivery.body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "x-extend-request-timestamp": timestamp,
                "x-extend-request-signature": sign(secret, timestamp, delivery.body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout_seconds) as response:
                response.read()
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (OSError, ValueError):
            return 0
