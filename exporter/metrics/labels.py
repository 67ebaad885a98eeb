"""What each metric label holds and what bounds it, and the values that stand for no API value.

Three such values, one spelling each in every family (`MEANINGS` says what each means). A `Label` is
one label's rule as families declare it (families.py): two families may share a label name with
different rules (`status` of the active gauge and of the finished counter). docs.py writes the rules
out as the cardinality section of docs/metrics.md. Imports nothing of the exporter.
"""

from __future__ import annotations

from dataclasses import dataclass

OTHER = "OTHER"
UNKNOWN = "UNKNOWN"
UNSPECIFIED = "UNSPECIFIED"
MEANINGS = {
    OTHER: "past a cardinality cap: a status, failure reason, risk level or resource ID beyond the "
    "values a kind may add as labels (or one that is not label-safe)",
    UNKNOWN: "could not be determined: the source of a run no source-filtered listing returned, the event "
    "type of a webhook delivery refused before its body was read",
    UNSPECIFIED: "the summary gave no value where one was expected (failureReason, riskLevel)",
}

# A status outside the documented enums becomes a label value as it is (enums grow), up to this many
# distinct values per kind; beyond that it counts under OTHER.
MAX_EXTRA_STATUSES = 8
# Likewise an undocumented failureReason or riskLevel, per kind and family.
MAX_EXTRA_VALUES = 8

# The reasons of the exporter's own counters, all started at 0.
SYNC_ERROR_REASONS = (
    "unauthorized",
    "forbidden",
    "payment_required",
    "rate_limited",
    "server_error",
    "transport_error",
    "bad_response",
    "client_error",
    "timeout",
)
RETRY_REASONS = ("rate_limited", "server_error", "transport_error", "bad_response", "timeout")
HTTP_REJECT_REASONS = (
    "header_timeout",
    "tls_handshake_timeout",
    "headers_too_large",
    "connection_limit",
    "overloaded",
    "accept_failed",
)

# The webhook listener refuses connections for one more reason: a request body not sent in time.
WEBHOOK_REJECT_REASONS = (*HTTP_REJECT_REASONS, "body_timeout")
WEBHOOK_OUTCOMES = (
    "accepted",
    "duplicate",
    "bad_signature",
    "stale",
    "malformed",
    "too_large",
    "unknown_type",
)
# Outcomes of deliveries refused before their event type is read (they count under UNKNOWN).
WEBHOOK_REFUSALS = ("bad_signature", "stale", "malformed", "too_large")
# The event types the exporter knows (both API versions): the values of `event_type` besides OTHER and
# UNKNOWN. webhooks/events.py says what each one does; a test keeps the two lists equal.
WEBHOOK_EVENT_TYPES = (
    *(f"workflow_run.{e}" for e in ("completed", "failed", "needs_review", "rejected", "cancelled")),
    "workflow_run.step_run.processed",
    *(
        f"{run}.{e}"
        for run in (
            "extract_run",
            "classify_run",
            "split_run",
            "parse_run",
            "edit_run",
            "form_detection_run",
            "batch_processor_run",
            "batch_parse_run",
            "processor_run",
            "parser_run",
        )
        for e in ("processed", "failed")
    ),
)
SYNC_TRIGGERS = ("schedule", "webhook")

# Spellings of OTHER in state files written before it was the one overflow value.
LEGACY_OTHER_STATUS = "UNKNOWN"
LEGACY_OTHER_RESOURCE = "other"


@dataclass(frozen=True)
class Label:
    name: str
    values: str  # what its values are and what bounds them
    overflow: str = ""  # the values that stand for no API value, and what they mean


KIND = Label("kind", "the run kinds synced (`EXTEND_EXPORTER_KINDS`)")
ACTIVE_STATUS = Label(
    "status",
    "an active status (PENDING, PROCESSING, NEEDS_REVIEW, CANCELLING), documented or not; a status "
    "outside these is terminal",
)
STATUS = Label(
    "status",
    f"the kind's documented terminal statuses, then up to {MAX_EXTRA_STATUSES} undocumented ones per kind "
    "as they come",
    f"`{OTHER}`: an undocumented status past those, or one that is not label-safe",
)
SOURCE = Label(
    "source",
    "the kind's documented `source` values; empty for workflow runs, which have none",
    f"`{UNKNOWN}`: no source-filtered listing returned the run (a source newer than this exporter, or "
    "a run deleted while it was being attributed)",
)
PROCESSOR_TYPE = Label(
    "processor_type",
    "`EXTRACT`, `CLASSIFY` or `SPLITTER` where the endpoint implies one, else empty; `processor_run`: "
    "the summary's `type` when it is one of those three",
    f"`{OTHER}`: a `processor_run` whose `type` is none of the documented three",
)
RESOURCE_ID = Label(
    "resource_id",
    "processor or workflow IDs: those of `EXTEND_EXPORTER_PER_RESOURCE_ALLOW`, or any, up to "
    "`EXTEND_EXPORTER_PER_RESOURCE_MAX` per kind",
    f"`{OTHER}`: an ID past the cap or outside the allow-list",
)
NAMED_RESOURCE_ID = Label(
    "resource_id", f"the IDs of `extend_runs_finished_by_resource_total` but `{OTHER}`, which has no name"
)
RESOURCE_NAME = Label("resource_name", "the name the ID came with when first seen; one per ID")
FAILURE_REASON = Label(
    "failure_reason",
    "the kind's documented failureReason values and `OUT_OF_CREDITS`, then up to "
    f"{MAX_EXTRA_VALUES} undocumented ones per kind",
    f"`{OTHER}`: an undocumented reason past those, or one that is not label-safe; `{UNSPECIFIED}`: "
    "the FAILED summary gave none",
)
RISK_LEVEL = Label(
    "risk_level",
    f"`LOW`, `MEDIUM`, `HIGH`, then up to {MAX_EXTRA_VALUES} undocumented ones",
    f"`{OTHER}`: an undocumented level past those, or one that is not label-safe; `{UNSPECIFIED}`: the "
    "PROCESSED summary gave none",
)
USAGE_TAG = Label("usage_tag", "the tags listed in `EXTEND_EXPORTER_USAGE_TAGS`; other tags are not counted")
ENDPOINT = Label(
    "endpoint",
    "the list path of each kind synced (`/extract_runs`, ...), and the path of a batch or evaluation read "
    "with `{id}` for its ID (`/batch_runs/{id}`, `/batch_processor_runs/{id}`, `/evaluation_set_runs/{id}`)",
)
CODE = Label(
    "code",
    "the HTTP status of the answer: three digits (an API answers with a handful), or `error` (no "
    "answer) or `timeout` (no complete answer in time)",
)
RETRY_REASON = Label("reason", "a fixed list: " + ", ".join(RETRY_REASONS))
SYNC_ERROR_REASON = Label("reason", "a fixed list: " + ", ".join(SYNC_ERROR_REASONS))
REJECT_REASON = Label("reason", "a fixed list: " + ", ".join(HTTP_REJECT_REASONS))
RESULT = Label("result", "`success` or `failure`")
VERSION = Label("version", "the exporter's version; one value")
API_VERSION = Label("api_version", "the configured API version; one value")
WORKSPACE = Label(
    "workspace",
    "one value per workspace polled: each ID of `EXTEND_WORKSPACE_ID`, or, with none set, `key-<12 hex>` "
    "fingerprinting the workspace key (a rotated key file replaces it)",
)
EVENT_TYPE = Label(
    "event_type",
    f"the {len(WEBHOOK_EVENT_TYPES)} event types of both API versions this release knows (runs, batches, "
    "workflow steps)",
    f"`{OTHER}`: any other type (resource lifecycle events, types newer than this release); `{UNKNOWN}`: "
    "a delivery refused before its type was read (bad signature, stale, malformed, too large)",
)
OUTCOME = Label("outcome", "a fixed list: " + ", ".join(WEBHOOK_OUTCOMES))
WEBHOOK_REJECT_REASON = Label("reason", "a fixed list: " + ", ".join(WEBHOOK_REJECT_REASONS))
TRIGGER = Label("trigger", "`schedule` (the poll interval) or `webhook` (a webhook delivery asked for it)")

# --- batches and evaluation set runs (exporter/batches/) ---------------------------------------------
BATCH_KIND = Label(
    "kind",
    "the kind of the batch's runs: `parse_run`, `extract_run`, `classify_run`, `split_run`, `workflow_run`; "
    "`processor_run` for a legacy batch processor run",
    f"`{OTHER}`: a batch left out by the cap before its kind was known",
)
BATCH_ID = Label(
    "batch_id",
    "the IDs of the tracked batches: at most `EXTEND_EXPORTER_MAX_BATCHES` (100) at a time per workspace, "
    "each for as long as it is active and `EXTEND_EXPORTER_BATCH_RETENTION_SECONDS` after it ended",
)
BATCH_STATUS = Label(
    "status",
    "the batch's status: PENDING, PROCESSING (active), PROCESSED, FAILED, CANCELLED, then up to "
    f"{MAX_EXTRA_STATUSES} undocumented ones per workspace",
    f"`{OTHER}`: an undocumented status past those, or one that is not label-safe",
)
BATCH_ACTIVE_STATUS = Label("status", "PENDING or PROCESSING (and CANCELLING, where reported)")
BATCH_RUN_STATUS = Label(
    "status",
    "the statuses of the batch's kind (all of them, 0 when no run has it), then undocumented ones as for "
    "the batch status",
    f"`{OTHER}`: as for the batch status",
)
BATCH_SOURCE = Label(
    "source",
    "legacy batch processor runs: `EVAL_SET`, `PLAYGROUND` or `STUDIO`; empty for the rest",
    f"`{OTHER}`: a source none of those",
)
EVALUATION_RUN_ID = Label(
    "evaluation_run_id", "the IDs of `EXTEND_EXPORTER_EVALUATION_RUN_IDS` (at most 20 per workspace)"
)
EVALUATION_SET_ID = Label("evaluation_set_id", "the evaluation set the run ran; one per run")
ENTITY_TYPE = Label("entity_type", "`EXTRACT`, `CLASSIFY`, `SPLITTER`, or empty when not given")
ENTITY_ID = Label("entity_id", "the extractor, classifier or splitter that ran; one per run")
ENTITY_VERSION = Label("entity_version", "its version (`draft` or a number); one per run")
EVALUATION_STATUS = Label(
    "status",
    "PENDING, PROCESSING, PROCESSED, FAILED, CANCELLED, and the run's own status when undocumented",
    f"`{OTHER}`: a status that is not label-safe",
)
SCORE_METRIC = Label(
    "metric", "`accuracy`, `precision`, `recall`, `f1`: those the API gives for the entity type"
)
SCORE_FIELD = Label(
    "field",
    "empty for the run as a whole; an extractor's field paths or a classifier's classes, the first "
    "`EXTEND_EXPORTER_EVALUATION_MAX_FIELDS` (25) by name per run",
    f"`{OTHER}`: the fields past the cap, pooled from their counts",
)
FILE_STATE = Label("state", "`total` or `processed`")
QUANTILE = Label("quantile", "`0.5`, `0.9`, `0.95`, `0.99`")
