"""Active runs already old when the simulator starts (``SimConfig.waiting_runs``): a workflow run waiting
for review for hours, a run stuck in PROCESSING. Added after the history, before any listing, so an
exporter's first sync finds them as a real workspace's would; they never move on their own."""

from __future__ import annotations

from collections.abc import Sequence

from .clock import quantize
from .config import WaitingRun
from .enums import ACTIVE, BATCH_SOURCES, FAMILIES, NEEDS_REVIEW, PENDING, SOURCES, STATUSES
from .model import Run
from .workload import Workload


def add_waiting_runs(workload: Workload, runs: Sequence[WaitingRun]) -> None:
    """Add each waiting run, created `age_seconds` before the simulator's start."""
    start = workload.clock.now_ms
    precision = workload.cfg.timestamp_precision
    for spec in runs:
        if spec.family not in FAMILIES:
            raise ValueError(f"waiting run: unknown family {spec.family!r}")
        if spec.status not in ACTIVE or spec.status not in STATUSES[spec.family]:
            raise ValueError(f"waiting run: {spec.status} is not an active status of {spec.family} runs")
        fam = spec.family  # narrowed to a Family by the check above
        # The first documented source that is not a batch (no batch to belong to); no random draw, so the
        # seeded workload after it is the one the seed always gives.
        source = next((s for s in SOURCES[fam] if s not in BATCH_SOURCES), None)
        created = quantize(start - int(spec.age_seconds * 1000), precision)
        run = Run(workload.world.next_seq(), fam, spec.status, source, 0, created, created)
        if spec.status != PENDING:
            run.started = run.updated = quantize(created + 1000, precision)
        if spec.status == NEEDS_REVIEW:  # processing ended, the review has not
            run.ended = run.updated = quantize(created + 60_000, precision)
        workload.world.add(run)
        workload.truth.on_created(run)
