"""Hints coalesce: a kind's first hint syncs at once, a burst books one more sync per gap."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field

from exporter.webhooks.hints import CoalescedHints
from tests.exporter_process import wait_until

GAP = 0.2


@dataclass
class Target:
    kinds: tuple[str, ...] = ("extract_run", "parse_run")
    syncs: list[tuple[str, float]] = field(default_factory=list)
    batches: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sync_now(self, kind: str) -> bool:
        with self.lock:
            self.syncs.append((kind, time.monotonic()))
        return True

    def watch_batch(self, kind: str, batch_id: str) -> None:
        self.batches.append((kind, batch_id))

    def of(self, kind: str) -> list[float]:
        with self.lock:
            return [t for k, t in self.syncs if k == kind]


def test_the_first_hint_syncs_at_once_and_a_burst_costs_one_more() -> None:
    target = Target()
    hints = CoalescedHints(target, min_gap=GAP)
    started = time.monotonic()
    for _ in range(500):
        hints.sync_kind_now("extract_run")
    assert len(target.of("extract_run")) == 1  # at once, in the caller's thread
    wait_until(lambda: len(target.of("extract_run")) == 2, timeout=5, interval=0.01)
    first, second = target.of("extract_run")
    assert first - started < GAP / 2 and second - first >= GAP * 0.9
    time.sleep(GAP * 2)
    assert len(target.of("extract_run")) == 2  # nothing more booked
    hints.sync_kind_now("extract_run")  # the gap has passed: at once again
    assert len(target.of("extract_run")) == 3
    hints.close()


def test_a_steady_stream_syncs_about_once_per_gap() -> None:
    target = Target()
    hints = CoalescedHints(target, min_gap=GAP)
    end = time.monotonic() + 10 * GAP
    while time.monotonic() < end:
        hints.sync_kind_now("parse_run")
        time.sleep(0.005)
    wait_until(hints.idle, timeout=5, interval=0.01)
    times = target.of("parse_run")
    assert 8 <= len(times) <= 12, times
    assert all(b - a >= GAP * 0.9 for a, b in itertools.pairwise(times))
    hints.close()


def test_kinds_are_apart_and_unwatched_kinds_are_ignored() -> None:
    target = Target()
    hints = CoalescedHints(target, min_gap=GAP)
    hints.sync_kind_now("extract_run")
    hints.sync_kind_now("parse_run")
    hints.sync_kind_now("workflow_run")  # not watched
    assert [k for k, _ in target.syncs] == ["extract_run", "parse_run"]
    hints.close()


def test_a_batch_reaches_the_exporter_whatever_kinds_it_syncs() -> None:
    """Batches of any kind are followed (their own endpoints, their runs' listings), so a batch hint is
    passed on even for a kind whose runs are not synced; it starts no sync by itself."""
    target = Target()
    hints = CoalescedHints(target)
    hints.watch_batch("parse_run", "bpr_1")
    hints.watch_batch("split_run", "bpr_2")  # runs not synced here
    assert target.batches == [("parse_run", "bpr_1"), ("split_run", "bpr_2")]
    assert target.syncs == []


def test_close_cancels_what_is_booked() -> None:
    target = Target()
    hints = CoalescedHints(target, min_gap=GAP)
    hints.sync_kind_now("extract_run")
    hints.sync_kind_now("extract_run")  # booked
    hints.close()
    time.sleep(GAP * 2)
    assert len(target.of("extract_run")) == 1
    hints.sync_kind_now("parse_run")  # closed: nothing
    assert target.of("parse_run") == []
