"""The most series each family can have, from its labels' rules and the kinds' enums.

A family's worst case is, per kind that has it, the product of its labels' value counts (times the
bucket, sum and count series of a histogram), summed over the kinds. `Caps` holds the settings that
bound the opt-in labels; the defaults are the configuration's. docs.py writes the figures into
docs/metrics.md; a test saturates every cap and checks the exposition stays within them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import MAX_USAGE_TAGS, Settings
from ..engine.accumulators import OUT_OF_CREDITS, for_kind
from ..engine.kind_state import DURATION_BUCKETS
from ..kinds import ACTIVE_STATUSES, KINDS, PROCESSOR_TYPES, RISK_LEVELS, KindSpec, label_processor_types
from . import families as fam
from . import labels as lb
from .families import Family, FilledBy, Type
from .labels import Label
from .telemetry import API_REQUEST_BUCKETS, SYNC_DURATION_BUCKETS

# A three-digit HTTP status, plus `error` and `timeout`.
HTTP_CODES = 1000 + 2


@dataclass(frozen=True)
class Caps:
    kinds: tuple[str, ...] = tuple(KINDS)
    per_resource_max: int = Settings.model_fields["per_resource_max"].default
    usage_tags: int = MAX_USAGE_TAGS


def label_values(label: Label, spec: KindSpec, caps: Caps) -> int:
    """How many values `label` takes at most for one kind (`spec`)."""
    counts = {
        lb.KIND: 1,
        lb.ENDPOINT: 1,
        lb.ACTIVE_STATUS: len(ACTIVE_STATUSES),
        lb.STATUS: len(spec.terminal_statuses) + lb.MAX_EXTRA_STATUSES + 1,
        lb.SOURCE: len(spec.sources) + 1 if spec.sources else 1,
        # processor_run: the documented types, "" (a summary without one), OTHER: labels.PROCESSOR_TYPE.
        lb.PROCESSOR_TYPE: len(PROCESSOR_TYPES) + 2
        if spec.type_from_field
        else len(label_processor_types(spec)),
        lb.RESOURCE_ID: caps.per_resource_max + 1,
        lb.NAMED_RESOURCE_ID: caps.per_resource_max,
        lb.RESOURCE_NAME: 1,
        lb.FAILURE_REASON: len({*(spec.failure_reasons or ()), OUT_OF_CREDITS}) + lb.MAX_EXTRA_VALUES + 2,
        lb.RISK_LEVEL: len(RISK_LEVELS) + lb.MAX_EXTRA_VALUES + 2,
        lb.USAGE_TAG: caps.usage_tags,
        lb.CODE: HTTP_CODES,
        lb.RETRY_REASON: len(lb.RETRY_REASONS),
        lb.SYNC_ERROR_REASON: len(lb.SYNC_ERROR_REASONS),
        lb.REJECT_REASON: len(lb.HTTP_REJECT_REASONS),
        lb.WEBHOOK_REJECT_REASON: len(lb.WEBHOOK_REJECT_REASONS),
        lb.EVENT_TYPE: len(lb.WEBHOOK_EVENT_TYPES) + 2,
        lb.OUTCOME: len(lb.WEBHOOK_OUTCOMES),
        lb.TRIGGER: len(lb.SYNC_TRIGGERS),
        lb.RESULT: 2,
        lb.VERSION: 1,
        lb.API_VERSION: 1,
        lb.WORKSPACE: 1,
    }
    return counts[label]


def _per_label_set(family: Family) -> int:
    """Series per label set: a histogram's buckets (with +Inf), `_sum` and `_count`."""
    if family.type is not Type.HISTOGRAM:
        return 1
    buckets = {
        fam.API_REQUEST_DURATION: len(API_REQUEST_BUCKETS) + 1,
        fam.SYNC_DURATION: len(SYNC_DURATION_BUCKETS) + 1,
        fam.RUN_DURATION: len(DURATION_BUCKETS),  # ends in +Inf
        fam.RUN_PROCESSING: len(DURATION_BUCKETS),
    }
    return buckets[family] + 2


def _per_kind(family: Family) -> bool:
    return bool({lb.KIND, lb.ENDPOINT} & set(family.labels))


def kinds_of(family: Family, caps: Caps) -> tuple[str, ...]:
    """The kinds with series of `family`: all, but an accumulator's only where the kind has it."""
    if not _per_kind(family):
        return ()
    if family.filled_by is not FilledBy.ACCUMULATOR:
        return caps.kinds
    tags = frozenset({"tag"})
    return tuple(k for k in caps.kinds if family in {a.family for a in for_kind(KINDS[k], tags)})


def worst_case(family: Family, caps: Caps = Caps()) -> int:
    """The most series `family` can have with `caps`."""
    # A family without a kind label has labels that do not depend on the kind: any spec will do.
    specs = [KINDS[k] for k in kinds_of(family, caps)] if _per_kind(family) else [KINDS[caps.kinds[0]]]
    total = 0
    for spec in specs:
        n = 1
        for label in family.labels:
            n *= label_values(label, spec, caps)
        total += n
    return total * _per_label_set(family)
