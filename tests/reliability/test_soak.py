"""Soak: the exporter under churn and random faults; memory, fds, threads and series stay flat.

`make test` runs it for 30 s (15 s of them past the warm-up); `make soak` sets EXTEND_SOAK_SECONDS
for a longer run (600 s by default). Per-resource labels are on with a cap below the simulator's
processor count, so the OTHER overflow is exercised and the series count must stay bounded; so is the
number of tracked batches (each brings its per-batch series; the workload starts new parse and workflow
batches all the time), which the cap keeps bounded by leaving new ones out or pushing finished ones out.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pytest

from exporter.web.server import WORKERS
from extend_simulator import Fault, SimConfig, Simulator
from tests.exporter_process import parse_metrics, series, start_exporter, wait_until
from tests.reliability.budgets import SOAK_SECONDS
from tests.reliability.proc_readings import open_fds, rss_kib, threads
from tests.reliability.truth import scrape

DURATION = SOAK_SECONDS or 30.0
WARMUP = max(15.0, DURATION * 0.25)
PER_RESOURCE_MAX = 2
MAX_BATCHES = 3  # reached within the warm-up: past it, batches replace each other
KINDS = "workflow_run,extract_run,classify_run,split_run,parse_run,edit_run,processor_run"


class Sample(NamedTuple):
    t: float  # seconds since the exporter started
    rss_kib: int
    sockets: int
    files: int  # descriptors other than sockets
    threads: int
    series: int


@pytest.fixture
def busy_sim() -> Iterator[Simulator]:
    rates = {
        "workflow": 60.0,
        "extract": 120.0,
        "classify": 60.0,
        "split": 30.0,
        "parse": 120.0,
        "edit": 30.0,
    }
    sim = Simulator(
        SimConfig(
            seed=81,
            history=3000,
            rates=rates,
            epoch=datetime.now(UTC).replace(microsecond=0),
            realtime=True,
            speed=5.0,
            qps_limit=None,
            delete_rate_per_min=2.0,
            processors_per_family=4,
            workflows=4,
        )
    )
    sim.start(host="127.0.0.1", port=0)
    sim.set_faults(
        Fault("rate_limit", rate=0.03, retry_after=1),
        Fault("http_500", rate=0.03),
        Fault("http_503", rate=0.02, retry_after=0),
        Fault("reset", rate=0.02),
        Fault("malformed_json", rate=0.02),
        Fault("truncated_envelope", rate=0.01),
        Fault("slow", rate=0.02, delay=0.5),
    )
    yield sim
    sim.stop()


@pytest.mark.timeout(DURATION + 120)
def test_soak_rss_fds_threads_and_series_stay_flat(busy_sim: Simulator, figures: dict[str, Any]) -> None:
    env = {
        "EXTEND_EXPORTER_LOG_LEVEL": "warning",
        "EXTEND_EXPORTER_PER_RESOURCE_LABELS": "true",
        "EXTEND_EXPORTER_PER_RESOURCE_MAX": str(PER_RESOURCE_MAX),
        "EXTEND_EXPORTER_MAX_BATCHES": str(MAX_BATCHES),
        "EXTEND_EXPORTER_PAGE_SIZE": "100",
        "EXTEND_EXPORTER_SYNC_OVERLAP_SECONDS": "30",
        "EXTEND_EXPORTER_RECONCILE_INTERVAL_SECONDS": "10",
        "EXTEND_EXPORTER_MAX_RETRIES": "3",
    }
    with start_exporter(
        busy_sim.url, busy_sim.api_key, kinds=KINDS, poll_interval=0.5, extra_env=env
    ) as proc:
        pid = proc.proc.pid
        samples: list[Sample] = []
        worst_scrape = 0.0
        started = time.monotonic()
        next_sample = started
        while (now := time.monotonic()) - started < DURATION:
            if now < next_sample:
                time.sleep(min(0.2, next_sample - now))
                continue
            next_sample += 1.0
            elapsed, response = scrape(f"{proc.url}/metrics")
            assert response.status_code == 200
            worst_scrape = max(worst_scrape, elapsed)
            n_series = len(parse_metrics(response.text))
            sockets, files = open_fds(pid)
            samples.append(Sample(now - started, rss_kib(pid), sockets, files, threads(pid), n_series))
            assert proc.proc.poll() is None, proc.logs()[-3000:]
        text = proc.metrics_text()
        # Every kind kept syncing through the faults.
        ok = series(parse_metrics(text), "extend_syncs_total", result="success")
        assert len(ok) == 7 and all(v > 3 for v in ok.values()), ok
        wait_until(lambda: proc.get("/healthz").status_code == 200, timeout=5)
    warm = [s for s in samples if s.t >= WARMUP]
    assert len(warm) >= 10
    head, tail = warm[: max(3, len(warm) // 5)], warm[-max(3, len(warm) // 5) :]
    rss_start = statistics.median(s.rss_kib for s in head)
    rss_end = statistics.median(s.rss_kib for s in tail)
    sockets_max, threads_max = max(s.sockets for s in warm), max(s.threads for s in warm)
    files_start, files_end = head[0].files, max(s.files for s in tail)
    series_start, series_max = head[0].series, max(s.series for s in warm)
    figures["soak"] = (
        f"{DURATION:.0f} s: RSS {rss_start / 1024:.1f} -> {rss_end / 1024:.1f} MiB, "
        f"sockets max {sockets_max}, other fds {files_start} -> {files_end}, threads max {threads_max}, "
        f"series {series_start} -> max {series_max}, max /metrics {worst_scrape * 1000:.0f} ms"
    )
    assert rss_end - rss_start < max(10 * 1024, rss_start * 0.15), figures["soak"]
    # Sockets and threads move with the work in flight, so a leak shows as going past what the design
    # allows, not as a difference between two samples: one listener and the HTTP loop's wake-up pair,
    # one pooled API connection and one sync worker per kind, and the connection of the scrape being
    # answered. Main, scheduler, exposition-refresh and HTTP loop threads and the HTTP server's fixed
    # worker pool make up the rest (docs/http.md: no thread per connection).
    n_kinds = len(KINDS.split(","))
    assert sockets_max <= 3 + n_kinds + 2, figures["soak"]
    assert threads_max <= 4 + WORKERS + n_kinds, figures["soak"]
    # Files and pipes do not move with load; allow a lazy import opening a module file during a sample.
    assert files_end <= files_start + 1, figures["soak"]
    # Bounded label sets: per kind at most PER_RESOURCE_MAX resource IDs plus OTHER.
    resources: dict[str, set[str]] = {}
    for labels in series(parse_metrics(text), "extend_runs_finished_by_resource_total"):
        d = dict(labels)
        resources.setdefault(d["kind"], set()).add(d["resource_id"])
    assert resources and all(len(ids) <= PER_RESOURCE_MAX + 1 for ids in resources.values()), resources
    assert any("OTHER" in ids for ids in resources.values()), "the cap was never reached: test proves little"
    assert series_max <= series_start + 50, figures["soak"]
