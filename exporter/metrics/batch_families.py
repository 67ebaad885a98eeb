"""The batch and evaluation set run families (batch_collector.py), declared as families.py declares the
rest; families.py lists them after its own, so /metrics and docs/metrics.md show them last."""

from __future__ import annotations

from . import labels as lb
from .family import FROM_SYNCS as _FROM_SYNCS
from .family import Family, FilledBy, Stability, Type
from .labels import Label

COUNTER, HISTOGRAM = Type.COUNTER, Type.HISTOGRAM
_declared: list[Family] = []


def _batch(name: str, help: str, labels: tuple[Label, ...], type: Type = Type.GAUGE) -> Family:
    """A family of the batch collector (batch_collector.py); experimental while batches are new. One
    set of series per workspace: its `workspace` label comes last, as families.py's per_workspace."""
    family = Family(
        name,
        type,
        help,
        (*labels, lb.WORKSPACE),
        Stability.EXPERIMENTAL,
        FilledBy.BATCHES,
        per_workspace=True,
    )
    _declared.append(family)
    return family


_BATCH = (lb.BATCH_KIND, lb.BATCH_ID)
BATCHES_ACTIVE = _batch(
    "extend_batches_active",
    "Tracked batches not yet done, by the status their endpoint reports (workflow batches: by their runs)."
    + _FROM_SYNCS,
    (lb.BATCH_KIND, lb.BATCH_ACTIVE_STATUS),
)
BATCHES_FINISHED = _batch(
    "extend_batches_finished",
    "Tracked batches observed ending, once per batch, by the status they ended in." + _FROM_SYNCS,
    (lb.BATCH_KIND, lb.BATCH_STATUS),
    COUNTER,
)
BATCH_DURATION = _batch(
    "extend_batch_duration_seconds",
    "Time from a batch's creation to its runs' last change, of the batches counted as finished."
    + _FROM_SYNCS,
    (lb.BATCH_KIND, lb.BATCH_STATUS),
    HISTOGRAM,
)
BATCHES_LEFT_OUT = _batch(
    "extend_batches_left_out",
    "Batches found while EXTEND_EXPORTER_MAX_BATCHES active ones were tracked: not tracked, counted once.",
    (lb.BATCH_KIND,),
    COUNTER,
)
BATCH_RUNS = _batch(
    "extend_batch_runs",
    "Runs of each tracked batch by status, while it is active and for the retention after it ended."
    + _FROM_SYNCS,
    (*_BATCH, lb.BATCH_RUN_STATUS),
)
BATCH_INFO = _batch(
    "extend_batch_info",
    "Each tracked batch with its status and, for a legacy batch processor run, its source; always 1.",
    (*_BATCH, lb.BATCH_STATUS, lb.BATCH_SOURCE),
)
BATCH_SIZE = _batch(
    "extend_batch_size",
    "Runs in each tracked batch (its runCount; workflow batches: the runs listed).",
    _BATCH,
)
BATCH_CREATED = _batch(
    "extend_batch_created_timestamp_seconds",
    "Unix time each tracked batch was created (its age: time() minus this).",
    _BATCH,
)
BATCH_PROGRESS = _batch(
    "extend_batch_last_progress_timestamp_seconds",
    "Unix time (Extend's clock) a run of each tracked batch last changed status; its creation until then.",
    _BATCH,
)
BATCH_FILES = _batch(
    "extend_batch_files",
    "Files of each tracked legacy batch processor run (metrics.numFiles).",
    _BATCH,
)
BATCH_PAGES = _batch(
    "extend_batch_pages",
    "Pages of each tracked legacy batch processor run (metrics.numPages).",
    _BATCH,
)
EVALUATION_STATUS = _batch(
    "extend_evaluation_run_status",
    "1 for the status each watched evaluation set run is in, 0 for the others.",
    (lb.EVALUATION_RUN_ID, lb.EVALUATION_STATUS),
)
EVALUATION_INFO = _batch(
    "extend_evaluation_run_info",
    "Each watched evaluation set run with its evaluation set and the processor version it ran; always 1.",
    (lb.EVALUATION_RUN_ID, lb.EVALUATION_SET_ID, lb.ENTITY_TYPE, lb.ENTITY_ID, lb.ENTITY_VERSION),
)
EVALUATION_SCORE = _batch(
    "extend_evaluation_run_score",
    "Accuracy figures of each watched evaluation set run (0 to 1), overall (field empty) and per field "
    "or class, as the API gives them.",
    (lb.EVALUATION_RUN_ID, lb.SCORE_METRIC, lb.SCORE_FIELD),
)
EVALUATION_FILES = _batch(
    "extend_evaluation_run_files",
    "Files of each watched evaluation set run, in total and processed so far.",
    (lb.EVALUATION_RUN_ID, lb.FILE_STATE),
)
EVALUATION_PAGES = _batch(
    "extend_evaluation_run_pages",
    "Pages of the files each watched evaluation set run processed.",
    (lb.EVALUATION_RUN_ID,),
)
EVALUATION_LATENCY = _batch(
    "extend_evaluation_run_file_latency_seconds",
    "Per-file latency quantiles of each watched evaluation set run.",
    (lb.EVALUATION_RUN_ID, lb.QUANTILE),
)

FAMILIES: tuple[Family, ...] = tuple(_declared)
