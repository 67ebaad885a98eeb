"""The most series each family can have, from its labels' rules and the kinds' enums.

A family's worst case is, per kind that has it, the product of its labels' value counts (times the
bucket, sum and count series of a histogram), summed over the kinds. `Caps` holds the settings that
bound the opt-in labels; the defaults are the configuration's. docs.py writes the figures into
docs/metrics.md; a test saturates every cap and checks the exposition stays within them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..batches.evaluations import EVALUATION_STATUSES, QUANTILES, SCORE_METRICS
from ..batches.records import BATCH_KINDS, LEGACY_SOURCES, NOT_DONE, TERMINAL_STATUSES
from ..batches.records import ENDPOINTS as OBJECT_ENDPOINTS
from ..config import MAX_EVALUATION_RUNS, MAX_USAGE_TAGS, Settings
from ..engine.accumulators import OUT_OF_CREDITS, for_kind
from ..engine.kind_state import DURATION_BUCKETS
from ..kinds import ACTIVE_STATUSES, KINDS, PROCESSOR_TYPES, RISK_LEVELS, KindSpec, label_processor_types
from . import batch_families
from . import families as fam
from . import labels as lb
from .family import Family, FilledBy, Type
from .labels import Label
from .telemetry import API_REQUEST_BUCKETS, SYNC_DURATION_BUCKETS

# A three-digit HTTP status, plus `error` and `timeout`.
HTTP_CODES = 1000 + 2


@dataclass(frozen=True)
class Caps:
    kinds: tuple[str, ...] = tuple(KINDS)
    per_resource_max: int = Settings.model_fields["per_resource_max"].default
    usage_tags: int = MAX_USAGE_TAGS
    max_batches: int = Settings.model_fields["max_batches"].default
    evaluation_runs: int = MAX_EVALUATION_RUNS
    evaluation_max_fields: int = Settings.model_fields["evaluation_max_fields"].default


# A batch's status or its runs': any documented status of a batch or of a run, then undocumented ones.
_BATCH_STATUSES = len({*NOT_DONE, *TERMINAL_STATUSES, *(s for k in KINDS.values() for s in k.all_statuses)})


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
        lb.BATCH_KIND: len(BATCH_KINDS) + 1,
        lb.BATCH_ID: caps.max_batches,
        lb.BATCH_STATUS: _BATCH_STATUSES + lb.MAX_EXTRA_STATUSES + 1,
        lb.BATCH_ACTIVE_STATUS: len(NOT_DONE),
        lb.BATCH_RUN_STATUS: _BATCH_STATUSES + lb.MAX_EXTRA_STATUSES + 1,
        lb.BATCH_SOURCE: len(LEGACY_SOURCES) + 2,
        lb.EVALUATION_RUN_ID: caps.evaluation_runs,
        lb.EVALUATION_SET_ID: 1,
        lb.ENTITY_TYPE: 1,
        lb.ENTITY_ID: 1,
        lb.ENTITY_VERSION: 1,
        lb.EVALUATION_STATUS: len(EVALUATION_STATUSES) + 1,
        lb.SCORE_METRIC: len(SCORE_METRICS),
        lb.SCORE_FIELD: caps.evaluation_max_fields + 2,
        lb.FILE_STATE: 2,
        lb.QUANTILE: len(QUANTILES),
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
        batch_families.BATCH_DURATION: len(DURATION_BUCKETS),
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
    # A batch's ID says its kind, its status and its source: those add no series to a family per batch.
    per_batch = (lb.BATCH_KIND, lb.BATCH_STATUS, lb.BATCH_SOURCE) if lb.BATCH_ID in family.labels else ()
    labels = [x for x in family.labels if x not in per_batch]
    per_spec = [_product(labels, spec, caps) for spec in specs]
    total = sum(per_spec)
    if lb.ENDPOINT in labels and per_spec:
        # Batch and evaluation reads name their object path, the same for every kind.
        total += len(OBJECT_ENDPOINTS) * per_spec[0]
    return total * _per_label_set(family)


def _product(labels: list[Label], spec: KindSpec, caps: Caps) -> int:
    n = 1
    for label in labels:
        n *= label_values(label, spec, caps)
    return n
