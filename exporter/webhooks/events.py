"""What an event is about: the run kinds it should make sync, the batch it names, its label value.

Event types of both API versions are understood (an endpoint is pinned to the version it was created
with, whatever the exporter speaks): 2025-04-21's `processor_run.*` map to the extract, classify or
split kind by the payload's `type`, `parser_run.*` to parse runs. A run event names the kinds whose
listings show that run: its own and, for extract/classify/split, the legacy `processor_run` listing;
only kinds the exporter watches are synced. Batch events name the batch (its `id`); a
`batch_processor_run` does not say whether it ran extractors, classifiers or splitters, so it names
all three. Events that end nothing countable (a workflow step, a form detection run with no listing)
are known and acted on by nobody. Anything else (resource lifecycle events, types newer than this
release) is an unknown type: answered 200, counted under OTHER.

The payload may be a signed-URL stub (`{"object": "signed_data_url", "data": URL, "id": ...}`): the
URL is never fetched; the `id` is all a batch event needs, and a `processor_run` event without its
`type` names all three processor kinds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..metrics.labels import OTHER

_PROCESSOR_KINDS = {"EXTRACT": "extract_run", "CLASSIFY": "classify_run", "SPLITTER": "split_run"}
LEGACY_PROCESSOR_KIND = "processor_run"
_ALL_PROCESSOR_KINDS = (*_PROCESSOR_KINDS.values(), LEGACY_PROCESSOR_KIND)


def _pair(prefix: str, *endings: str) -> tuple[str, ...]:
    return tuple(f"{prefix}.{e}" for e in endings)


_WORKFLOW = _pair("workflow_run", "completed", "failed", "needs_review", "rejected", "cancelled")
# event type -> kinds whose listings show the run (2026-02-09 names)
_RUN_EVENTS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(_WORKFLOW, ("workflow_run",)),
    **dict.fromkeys(_pair("extract_run", "processed", "failed"), ("extract_run", LEGACY_PROCESSOR_KIND)),
    **dict.fromkeys(_pair("classify_run", "processed", "failed"), ("classify_run", LEGACY_PROCESSOR_KIND)),
    **dict.fromkeys(_pair("split_run", "processed", "failed"), ("split_run", LEGACY_PROCESSOR_KIND)),
    **dict.fromkeys(_pair("parse_run", "processed", "failed"), ("parse_run",)),
    **dict.fromkeys(_pair("edit_run", "processed", "failed"), ("edit_run",)),
    # 2025-04-21 names
    **dict.fromkeys(_pair("parser_run", "processed", "failed"), ("parse_run",)),
}
_PROCESSOR_RUN_EVENTS = _pair("processor_run", "processed", "failed")  # kinds from the payload's type
_BATCH_EVENTS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(_pair("batch_processor_run", "processed", "failed"), _ALL_PROCESSOR_KINDS),
    **dict.fromkeys(_pair("batch_parse_run", "processed", "failed"), ("parse_run",)),
}
# Known, but nothing to sync: a step is not a run's end; form detection runs have no listing.
_NOTHING_TO_SYNC = (
    "workflow_run.step_run.processed",
    *_pair("form_detection_run", "processed", "failed"),
)

#: Every event type this release knows: the values of the `event_type` label besides OTHER/UNKNOWN.
KNOWN_EVENT_TYPES: tuple[str, ...] = (
    *_RUN_EVENTS,
    *_PROCESSOR_RUN_EVENTS,
    *_BATCH_EVENTS,
    *_NOTHING_TO_SYNC,
)


@dataclass(frozen=True)
class Event:
    """A verified, well-formed delivery."""

    event_id: str
    event_type: str  # as sent
    kinds: tuple[str, ...]  # kinds to sync (all candidates; the exporter skips those it does not watch)
    batch_id: str | None = None  # batch events: the batch

    @property
    def known(self) -> bool:
        return self.event_type in KNOWN_EVENT_TYPES

    @property
    def label(self) -> str:
        """The `event_type` label value: the type when known, else OTHER."""
        return self.event_type if self.known else OTHER


class Malformed(ValueError):
    """Not an event envelope (`eventId`, `eventType` strings, `payload` object)."""


def parse_event(envelope: Any) -> Event:
    """The event of a decoded JSON body; Malformed when it is not an envelope."""
    if not isinstance(envelope, Mapping):
        raise Malformed("the body is not a JSON object")
    event_id, event_type = envelope.get("eventId"), envelope.get("eventType")
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str) or not event_type:
        raise Malformed("eventId and eventType must be non-empty strings")
    payload = envelope.get("payload")
    if payload is not None and not isinstance(payload, Mapping):
        raise Malformed("payload must be an object")
    payload = payload or {}
    if event_type in _RUN_EVENTS:
        return Event(event_id, event_type, _RUN_EVENTS[event_type])
    if event_type in _PROCESSOR_RUN_EVENTS:
        kind = _PROCESSOR_KINDS.get(str(payload.get("type")))
        kinds = (kind, LEGACY_PROCESSOR_KIND) if kind else _ALL_PROCESSOR_KINDS
        return Event(event_id, event_type, kinds)
    if event_type in _BATCH_EVENTS:
        batch = payload.get("id")
        if not isinstance(batch, str) or not batch:
            raise Malformed("a batch event's payload must carry the batch id")
        return Event(event_id, event_type, _BATCH_EVENTS[event_type], batch)
    return Event(event_id, event_type, ())
