"""The run series the runs overview reads, filtered by its variables, and their per-workspace rates.

Run metrics are read through `per_workspace_panel()`: one value per workspace, the max across the
exporters that poll it, so a second exporter of a workspace (a sidecar on a 2-replica app) never doubles
a number. Every new panel on run metrics must do the same; totals then sum across workspaces.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..promql import RUN_LABELS, per_workspace_panel
from .widgets import DURATION, KIND, RI, RUNS

FINISHED = f"extend_runs_finished_total{{{RUNS}}}"
FAILED = f'extend_runs_finished_total{{{RUNS}, status="FAILED"}}'
CREATED = f"extend_runs_created_total{{{RUNS}}}"
CREDITS = f"extend_run_credits_total{{{RUNS}}}"
FAILED_REASON = f"extend_runs_failed_total{{{KIND}}}"
PAGES = f"extend_run_pages_total{{{KIND}}}"
PROCESSING = f"extend_run_processing_seconds_bucket{{{KIND}}}"
DURATIONS = f"extend_run_duration_seconds_bucket{{{DURATION}}}"
PROCESSED_DURATION = f'extend_run_duration_seconds_bucket{{{DURATION}, status="PROCESSED"}}'
RISK = f"extend_runs_processed_by_risk_level_total{{{KIND}}}"
TAG_CREDITS = f"extend_run_credits_by_tag_total{{{KIND}}}"
OLDEST_AGE = f"extend_runs_oldest_active_age_seconds{{{KIND}}}"
ACTIVE = per_workspace_panel(f"extend_runs_active{{{RUNS}}}", RUN_LABELS)


def finished_rate(window: str) -> str:
    """Runs reaching a terminal status per second over `window`, per workspace and run label."""
    return per_workspace_panel(f"rate({FINISHED}{window})", RUN_LABELS)


def failed_rate(window: str) -> str:
    """Runs ending FAILED per second over `window`, per workspace and run label."""
    return per_workspace_panel(f"rate({FAILED}{window})", RUN_LABELS)


def rate(selector: str, labels: Sequence[str]) -> str:
    """rate() of `selector` over Grafana's $__rate_interval, per workspace and `labels`."""
    return per_workspace_panel(f"rate({selector}{RI})", labels)


def in_range(selector: str, labels: Sequence[str]) -> str:
    """increase() of `selector` over the dashboard's time range, per workspace and `labels`."""
    return per_workspace_panel(f"increase({selector}[$__range])", labels)
