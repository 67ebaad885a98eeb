"""Every metric family the exporter exposes, declared once: name, type, help, labels, opt-in, stability.

The exporter's own metrics (telemetry.py), the collector's run families (collector.py), the
accumulators (accumulators.py) and the generated docs (docs.py) all read their families here; adding
a family is one `_family(...)` entry plus the code that fills it (family.py: what an entry holds). The
batch and evaluation families are declared alike in batch_families.py and listed here after the rest.
`FAMILIES` keeps declaration order, which is the order of /metrics and of the table in docs/metrics.md.

`per_workspace=True` declares that a family's series are one set per workspace polled: the `workspace`
label is appended to its labels (last), and the exporter renders each workspace's samples under it
(telemetry.py for the exporter's own metrics, collector.py for the run families). A family of a new
per-workspace thing (batches, ...) only declares it; no code of its own adds the label.

Names are stored as prometheus_client takes them, *without* the `_total` of counters: the library
appends it (`Family.exposed` is the name as a query writes it). Help texts are the exposed HELP lines,
byte for byte. Stability has kube-state-metrics' two levels; `STABILITY_RULES` says which is which.
"""

from __future__ import annotations

from . import batch_families
from . import labels as lb
from .family import FROM_SYNCS as _FROM_SYNCS
from .family import Family, FilledBy, Stability, Type
from .labels import Label

STABILITY_RULES = {
    Stability.STABLE: "the families of the exporter's first design: run counts, states, durations and "
    "credits, the per-resource breakdown, sync health, API requests, build info, invalid summaries, "
    "state-file write failures, tracked runs. Their name, type, labels and meaning change only as a "
    "breaking change.",
    Stability.EXPERIMENTAL: "the families added since, on newer API fields (failureReason, riskLevel, "
    "`metrics`, usage tags), batches and evaluation set runs, or on exporter internals still being tuned "
    "(request budget, sync intervals and running syncs, requests in flight, rejected HTTP connections). "
    "They may change in a minor release, with a CHANGELOG line; the dashboards and alerts shipped here "
    "follow. One becomes stable once its name, labels and meaning have held through a release.",
}

_declared: list[Family] = []


def _family(
    name: str,
    type: Type,
    help: str,
    labels: tuple[Label, ...],
    stability: Stability,
    filled_by: FilledBy,
    opt_in: str | None = None,
    *,
    per_workspace: bool = False,
    exemplars: bool = False,
) -> Family:
    if per_workspace:
        labels = (*labels, lb.WORKSPACE)
    family = Family(name, type, help, labels, stability, filled_by, opt_in, per_workspace, exemplars)
    _declared.append(family)
    return family


STABLE, EXPERIMENTAL = Stability.STABLE, Stability.EXPERIMENTAL
COUNTER, GAUGE, HISTOGRAM = Type.COUNTER, Type.GAUGE, Type.HISTOGRAM
SELF, LEDGER, ACCUMULATOR = FilledBy.SELF, FilledBy.LEDGER, FilledBy.ACCUMULATOR


# --- the exporter's own metrics (telemetry.py) ----------------------------------------------------------
API_REQUESTS = _family(
    "extend_api_requests",
    COUNTER,
    "Requests sent to the Extend API, by endpoint path and HTTP status ('error': no response, "
    "'timeout': no complete answer within the request timeout).",
    (lb.ENDPOINT, lb.CODE),
    STABLE,
    SELF,
    per_workspace=True,
)
API_REQUEST_DURATION = _family(
    "extend_api_request_duration_seconds",
    HISTOGRAM,
    "Duration of Extend API requests, by endpoint path (every workspace together).",
    (lb.ENDPOINT,),
    STABLE,
    SELF,
)
API_RETRIES = _family(
    "extend_api_retries",
    COUNTER,
    "Extend API requests retried, by endpoint path and reason.",
    (lb.ENDPOINT, lb.RETRY_REASON),
    STABLE,
    SELF,
    per_workspace=True,
)
UP = _family(
    "extend_up",
    GAUGE,
    "1 when the last sync of this run kind in this workspace succeeded, 0 when it failed; absent until "
    "its first sync ends (start-up is not an outage)." + _FROM_SYNCS,
    (lb.KIND,),
    STABLE,
    SELF,
    per_workspace=True,
)
LAST_SUCCESS = _family(
    "extend_last_successful_sync_timestamp_seconds",
    GAUGE,
    "Unix time of the last successful sync of this run kind.",
    (lb.KIND,),
    STABLE,
    SELF,
    per_workspace=True,
)
SYNC_DURATION = _family(
    "extend_sync_duration_seconds",
    HISTOGRAM,
    "Duration of one sync of a run kind (all its listings).",
    (lb.KIND,),
    STABLE,
    SELF,
    per_workspace=True,
)
SYNCS = _family(
    "extend_syncs",
    COUNTER,
    "Syncs of a run kind, by result (success or failure).",
    (lb.KIND, lb.RESULT),
    STABLE,
    SELF,
    per_workspace=True,
)
SYNC_ERRORS = _family(
    "extend_sync_errors",
    COUNTER,
    "Failed syncs, by run kind and reason.",
    (lb.KIND, lb.SYNC_ERROR_REASON),
    STABLE,
    SELF,
    per_workspace=True,
)
API_REQUESTS_IN_FLIGHT = _family(
    "extend_api_requests_in_flight",
    GAUGE,
    "Extend API requests sent and not yet answered in full.",
    (),
    EXPERIMENTAL,
    SELF,
)
API_OLDEST_REQUEST_AGE = _family(
    "extend_api_oldest_request_age_seconds",
    GAUGE,
    "Age of the oldest Extend API request in flight (0 when none): a hang shows as growth.",
    (),
    EXPERIMENTAL,
    SELF,
)
BUILD_INFO = _family(
    "extend_exporter_build_info",
    GAUGE,
    "Build information of the exporter, one series per workspace it polls (the workspace ID, or "
    "key-<12 hex> fingerprinting the API key); always 1.",
    (lb.VERSION, lb.API_VERSION),
    STABLE,
    SELF,
    per_workspace=True,
)
HTTP_CONNECTIONS_REJECTED = _family(
    "extend_exporter_http_connections_rejected",
    COUNTER,
    "HTTP connections the exporter's server refused or closed, by reason ("
    + ", ".join(lb.HTTP_REJECT_REASONS)
    + ").",
    (lb.REJECT_REASON,),
    EXPERIMENTAL,
    SELF,
)
REQUEST_BUDGET = _family(
    "extend_exporter_request_budget_requests_per_second",
    GAUGE,
    "Configured request budget shared by every sync of every workspace "
    "(EXTEND_EXPORTER_MAX_REQUESTS_PER_SECOND).",
    (),
    EXPERIMENTAL,
    SELF,
)
REQUEST_BUDGET_WAIT = _family(
    "extend_exporter_request_budget_wait_seconds",
    COUNTER,
    "Time requests waited for the request budget; a rate near the number of kinds syncing at "
    "once means the budget, not the API, paces the syncs.",
    (),
    EXPERIMENTAL,
    SELF,
)
SYNC_INTERVAL = _family(
    "extend_sync_interval_seconds",
    GAUGE,
    "Seconds between the starts of the last two syncs of this run kind (0 before the second); "
    "above extend_sync_configured_interval_seconds when syncs fall behind.",
    (lb.KIND,),
    EXPERIMENTAL,
    SELF,
    per_workspace=True,
)
SYNC_CONFIGURED_INTERVAL = _family(
    "extend_sync_configured_interval_seconds",
    GAUGE,
    "Configured seconds between syncs of each run kind (EXTEND_EXPORTER_POLL_INTERVAL_SECONDS).",
    (),
    EXPERIMENTAL,
    SELF,
)
SYNC_TRIGGERS = _family(
    "extend_sync_triggers",
    COUNTER,
    "Syncs started, by run kind and what started them: schedule (the poll interval) or webhook (a "
    "webhook delivery asked for it; deliveries in a burst share one sync).",
    (lb.KIND, lb.TRIGGER),
    EXPERIMENTAL,
    SELF,
    per_workspace=True,
)
INVALID_SUMMARIES = _family(
    "extend_invalid_summaries",
    COUNTER,
    "Run summaries skipped because they lack id, status or timestamps.",
    (lb.KIND,),
    STABLE,
    SELF,
    per_workspace=True,
)
SYNC_RUNNING = _family(
    "extend_sync_running_seconds",
    GAUGE,
    "Seconds the sync of this run kind now running has taken so far (0 between syncs): a sync that "
    "runs for several poll intervals shows here while extend_up still says 1.",
    (lb.KIND,),
    EXPERIMENTAL,
    SELF,
    per_workspace=True,
)
STATE_WRITE_FAILURES = _family(
    "extend_exporter_state_write_failures",
    COUNTER,
    "Failed writes of the state file (counts then live only in memory).",
    (),
    STABLE,
    SELF,
)
WEBHOOK_EVENTS = _family(
    "extend_webhook_events",
    COUNTER,
    "Webhook deliveries received, by event type and outcome ("
    + ", ".join(lb.WEBHOOK_OUTCOMES)
    + "). A delivery only asks for a sync of its kind: it never changes a run count.",
    (lb.EVENT_TYPE, lb.OUTCOME),
    EXPERIMENTAL,
    SELF,
    opt_in="webhook_listen_address",
)
WEBHOOK_LAST_ACCEPTED = _family(
    "extend_webhook_last_accepted_timestamp_seconds",
    GAUGE,
    "Unix time of the last accepted webhook delivery; the listener's start until one is accepted.",
    (),
    EXPERIMENTAL,
    SELF,
    opt_in="webhook_listen_address",
)
WEBHOOK_CONNECTIONS_REJECTED = _family(
    "extend_webhook_http_connections_rejected",
    COUNTER,
    "Connections the webhook listener refused or closed, by reason ("
    + ", ".join(lb.WEBHOOK_REJECT_REASONS)
    + ").",
    (lb.WEBHOOK_REJECT_REASON,),
    EXPERIMENTAL,
    SELF,
    opt_in="webhook_listen_address",
)

# --- the run families of every kind (collector.py) ------------------------------------------------------
RUNS_ACTIVE = _family(
    "extend_runs_active",
    GAUGE,
    "Runs now in a non-terminal status (PENDING, PROCESSING, NEEDS_REVIEW, CANCELLING)." + _FROM_SYNCS,
    (lb.KIND, lb.ACTIVE_STATUS, lb.SOURCE, lb.PROCESSOR_TYPE),
    STABLE,
    LEDGER,
    per_workspace=True,
)
RUNS_FINISHED = _family(
    "extend_runs_finished",
    COUNTER,
    "Runs observed entering a terminal status since counting began; once per run and status." + _FROM_SYNCS,
    (lb.KIND, lb.STATUS, lb.SOURCE, lb.PROCESSOR_TYPE),
    STABLE,
    LEDGER,
    per_workspace=True,
    exemplars=True,  # on FAILED series: the run that failed last
)
RUNS_CREATED = _family(
    "extend_runs_created",
    COUNTER,
    "Runs created since counting began." + _FROM_SYNCS,
    (lb.KIND, lb.SOURCE, lb.PROCESSOR_TYPE),
    STABLE,
    LEDGER,
    per_workspace=True,
)
RUN_CREDITS = _family(
    "extend_run_credits",
    COUNTER,
    "Credits of finished runs, where the API reports usage." + _FROM_SYNCS,
    (lb.KIND, lb.SOURCE, lb.PROCESSOR_TYPE),
    STABLE,
    LEDGER,
    per_workspace=True,
)
RUN_DURATION = _family(
    "extend_run_duration_seconds",
    HISTOGRAM,
    "Time from creation (workflow runs: start) to finish of finished runs." + _FROM_SYNCS,
    (lb.KIND, lb.STATUS, lb.PROCESSOR_TYPE),
    STABLE,
    LEDGER,
    per_workspace=True,
    exemplars=True,  # per bucket: the run whose duration fell there last
)
RUNS_OLDEST_ACTIVE_AGE = _family(
    "extend_runs_oldest_active_age_seconds",
    GAUGE,
    "Age of the oldest run in each active status; 0 when there is none." + _FROM_SYNCS,
    (lb.KIND, lb.ACTIVE_STATUS),
    STABLE,
    LEDGER,
    per_workspace=True,
)
TRACKED_RUNS = _family(
    "extend_exporter_tracked_runs",
    GAUGE,
    "Runs the exporter keeps in memory for a kind (active runs and the overlap window).",
    (lb.KIND,),
    STABLE,
    LEDGER,
    per_workspace=True,
)
RUNS_FINISHED_BY_RESOURCE = _family(
    "extend_runs_finished_by_resource",
    COUNTER,
    f"Finished runs per processor or workflow ID (opt-in, capped; overflow under {lb.OTHER})." + _FROM_SYNCS,
    (lb.KIND, lb.STATUS, lb.RESOURCE_ID),
    STABLE,
    LEDGER,
    opt_in="per_resource_labels",
    per_workspace=True,
)
RESOURCE_INFO = _family(
    "extend_resource_info",
    GAUGE,
    "Maps a processor or workflow ID to its name; always 1 (opt-in).",
    (lb.KIND, lb.NAMED_RESOURCE_ID, lb.RESOURCE_NAME),
    STABLE,
    LEDGER,
    opt_in="per_resource_labels",
    per_workspace=True,
)

# --- what a finish adds to besides the core counts (accumulators.py) ------------------------------------
RUNS_FAILED = _family(
    "extend_runs_failed",
    COUNTER,
    f"Runs observed entering FAILED, by the summary's failureReason ({lb.UNSPECIFIED}: none given; "
    f"undocumented values pass through, up to {lb.MAX_EXTRA_VALUES} per kind, the rest under {lb.OTHER})."
    + _FROM_SYNCS,
    (lb.KIND, lb.FAILURE_REASON),
    EXPERIMENTAL,
    ACCUMULATOR,
    per_workspace=True,
    exemplars=True,  # the run that failed last for this reason
)
RUNS_PROCESSED_BY_RISK = _family(
    "extend_runs_processed_by_risk_level",
    COUNTER,
    f"Verify runs observed entering PROCESSED, by the summary's riskLevel ({lb.UNSPECIFIED}: none given)."
    + _FROM_SYNCS,
    (lb.KIND, lb.RISK_LEVEL),
    EXPERIMENTAL,
    ACCUMULATOR,
    per_workspace=True,
)
RUN_PAGES = _family(
    "extend_run_pages",
    COUNTER,
    "Pages of runs observed entering PROCESSED, from the summary's metrics.pageCount "
    "(spreadsheets: Extend's estimate)." + _FROM_SYNCS,
    (lb.KIND,),
    EXPERIMENTAL,
    ACCUMULATOR,
    per_workspace=True,
)
RUN_PROCESSING = _family(
    "extend_run_processing_seconds",
    HISTOGRAM,
    "Extend's own processing time of runs observed entering PROCESSED (metrics.processingTimeMs); "
    "compare with extend_run_duration_seconds to see queueing." + _FROM_SYNCS,
    (lb.KIND,),
    EXPERIMENTAL,
    ACCUMULATOR,
    per_workspace=True,
)
RUN_CREDITS_BY_TAG = _family(
    "extend_run_credits_by_tag",
    COUNTER,
    "Credits of runs observed entering PROCESSED, per usage tag in metadata['extend:usage_tags'] "
    "(opt-in allow-list; a run with two listed tags counts under both)." + _FROM_SYNCS,
    (lb.KIND, lb.USAGE_TAG),
    EXPERIMENTAL,
    ACCUMULATOR,
    opt_in="usage_tags",
    per_workspace=True,
)

# The batch families (batch_families.py, declared the same way) come last.
FAMILIES: tuple[Family, ...] = (*_declared, *batch_families.FAMILIES)
BY_NAME: dict[str, Family] = {f.name: f for f in FAMILIES}
