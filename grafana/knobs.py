"""The knobs of the alerts: every threshold, window and `for:` duration, with the reasoning behind it.

`python -m grafana.generate --set NAME=VALUE` regenerates both alert files (and the dashboards' threshold
lines, which follow the knobs) with other values.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from .promql import seconds


@dataclass(frozen=True)
class Knobs:
    """Thresholds and windows of the alerts (and the threshold lines drawn on the dashboards)."""

    # FAILED spike, absolute: FAILED runs of one kind counted by one exporter within the window. The
    # window must be longer than the exporter's poll interval (default 60 s): counters move once per sync.
    failed_spike_window: str = "10m"
    failed_spike_min_count: int = 10
    # Short: an increase over a window cannot flap on one scrape, and a spike should page quickly.
    failed_spike_for: str = "2m"
    # FAILED ratio: share of the kind's finished runs that FAILED within the window ...
    failure_ratio_window: str = "10m"
    failure_ratio_threshold: float = 0.2
    # ... only when at least this many runs finished in the window (3 of 4 failing is not a trend) ...
    failure_ratio_min_finished: int = 20
    # ... for this long (a ratio is noisier than a count, so it must hold for a while).
    failure_ratio_for: str = "5m"
    # Oldest run waiting in NEEDS_REVIEW (the human review SLA).
    review_backlog_max_age: str = "4h"
    review_backlog_for: str = "15m"
    # Oldest run in PROCESSING.
    stuck_processing_max_age: str = "1h"
    stuck_processing_for: str = "15m"
    # Syncs of a kind failing (extend_up == 0).
    sync_failing_for: str = "10m"
    # No successful sync for this long although the last one did not fail (wedged scheduler or request).
    sync_stale_after: str = "15m"
    sync_stale_for: str = "5m"
    # Failed writes of the state file within this window (counts then survive no restart).
    state_write_window: str = "15m"
    state_write_for: str = "5m"
    # Syncs of a kind starting this many times the configured interval apart: the request budget or
    # slow listings cannot keep up (scheduler jitter moves an interval by at most 20%).
    sync_behind_ratio: float = 1.5
    sync_behind_for: str = "15m"
    # How long Prometheus remembers which job/workspace pairs have an exporter: one scraped within this
    # look-back and not now is down (while its job still has targets), or, for all of them, absent.
    exporter_down_lookback: str = "1d"
    # Longer than a rollout or a reschedule takes to bring a new pod up.
    exporter_down_for: str = "5m"
    # No exporter scraped at all.
    exporter_absent_for: str = "15m"
    # More than one exporter on one workspace; longer than a surge rollout's overlap.
    duplicate_poller_for: str = "15m"
    # Share of API requests answered 429 within the window.
    rate_limited_window: str = "15m"
    rate_limited_ratio: float = 0.2
    rate_limited_for: str = "15m"
    # 401/403 answers in every window of this length, for `unauthorized_for`.
    unauthorized_window: str = "5m"
    unauthorized_for: str = "10m"
    # Out of credits: any OUT_OF_CREDITS failure or 402 answer within the window pages at once (runs
    # are not processed at all until credits are added, so there is nothing to wait for).
    out_of_credits_window: str = "10m"
    out_of_credits_for: str = "1m"
    # A batch that ended FAILED: its finished counter moves once, so the window only sets how long the
    # alert stays up after it; it must be longer than the poll interval.
    batch_failed_window: str = "15m"
    batch_failed_for: str = "0m"
    # A batch with runs queued PENDING and no run changing status for this long (a queue that drains
    # moves at least one run per minute or so).
    batch_stalled_after: str = "30m"
    batch_stalled_for: str = "5m"

    # Webhooks configured, runs Extend announces (PROCESSED or FAILED, any kind but verify_run) kept
    # finishing -- at least this many within the window, as the poller saw them -- and no delivery was
    # accepted for the whole window: the endpoint in Extend is disabled, deleted or misrouted. The
    # exporter starts the clock when its listener starts, so a restart waits a full window first.
    webhook_silent_after: str = "30m"
    webhook_silent_min_runs: int = 3
    webhook_silent_for: str = "5m"

    # Where alert notifications link to (the runbook_url annotation, plus "#<alert name in lower case>"):
    # the repository's docs/runbook.md as your users can open it, e.g. on your Git host.
    runbook_base_url: str = "docs/runbook.md"
    # Where an exemplar's run opens (the data source's exemplar link; Grafana puts the run ID in place of
    # ${__value.raw}). Extend documents no form for a run's page: check one of your runs' dashboardUrl
    # and set this to match (docs/exemplars.md).
    run_link_url: str = "https://dashboard.extend.ai/runs/${__value.raw}"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str) and not f.name.endswith("_url"):
                seconds(value)  # raises on a malformed duration

    def with_overrides(self, overrides: dict[str, str]) -> Knobs:
        """A copy with `NAME=VALUE` overrides (from the command line) converted to each field's type."""
        known = {f.name for f in fields(self)}
        values: dict[str, Any] = {}
        for name, raw in overrides.items():
            if name not in known:
                raise ValueError(f"unknown knob {name!r}; known: {', '.join(sorted(known))}")
            values[name] = type(getattr(self, name))(raw)
        return replace(self, **values)
