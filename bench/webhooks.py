"""Webhooks as hints: FAILED in the simulator -> /metrics with and without webhooks at a 300 s poll
interval, the syncs a burst of events costs, and the idle API cost per hour of each poll interval.

* latency (real clock): one simulator in real time (its epoch at the real now) delivers signed events of
  its run ends to exporter A's webhook listener (hinted syncs at most once a second per kind, the
  default) and to exporter C's (at most once every 10 s); exporter B gets none. All poll every 300 s,
  in this process, with their real schedulers and a 10 req/s budget. A listener on the simulator's
  workload records when each run enters FAILED (per kind); a watcher reads each exporter's /metrics
  body (the cached exposition a scrape is served) every 50 ms and records when the kind's FAILED count
  first reaches k. Failures are
  counted for `--seconds` (at least one interval, so B's latencies cover its whole interval), then B is
  given one interval and its jitter to catch up.
* burst: 1,000 signed events sent at once to A (one sender, keep-alive off, as fast as it goes): the
  syncs they started (extend_sync_triggers_total{trigger="webhook"}) per kind.
  Each exporter's API requests per hour over that time show what the deliveries cost on a workspace
  finishing 90 runs a minute (about 2 events a second).
* idle cost (simulated clock): every default kind synced every 300 s and every 60 s for one virtual
  hour against an idle simulator (reconcile every 900 s, the default): requests per hour.

Usage: .venv/bin/python -m bench.webhooks [--seconds 330] [--interval 300]
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from bench.common import DEFAULT_KIND_NAMES, emit, exporter_for, free_port, json_arg, make_exporter
from exporter.app import Exporter
from exporter.webhooks.secrets import WebhookSecrets
from extend_simulator import SimConfig, Simulator
from extend_simulator.config import WebhookConfig
from extend_simulator.enums import FAILED, KIND
from extend_simulator.model import Run
from extend_simulator.webhooks import EventSource, WebhookSender

SECRET = "wss_bench_webhook_secret"
KINDS = ("workflow_run", "extract_run", "parse_run")
RATES = {
    "workflow": 10.0,
    "extract": 40.0,
    "classify": 0.0,
    "split": 0.0,
    "parse": 40.0,
    "edit": 0.0,
    "verify": 0.0,
}


def failed_counts(exporter: Exporter) -> dict[str, int]:
    """FAILED runs per kind on the exporter's /metrics body."""
    out: dict[str, int] = defaultdict(int)
    for line in exporter.exposition.current.text.split(b"\n"):
        if line.startswith(b"extend_runs_finished_total{") and b'status="FAILED"' in line:
            kind = line.split(b'kind="', 1)[1].split(b'"', 1)[0].decode()
            out[kind] += int(float(line.rsplit(b" ", 1)[1]))
    return out


def api_requests(exporter: Exporter) -> float:
    """All Extend API requests the exporter sent so far (extend_api_requests_total)."""
    exporter.exposition.refresh()
    total = 0.0
    for line in exporter.exposition.current.text.split(b"\n"):
        if line.startswith(b"extend_api_requests_total{"):
            total += float(line.rsplit(b" ", 1)[1])
    return total


def webhook_syncs(exporter: Exporter, kind: str) -> int:
    """extend_sync_triggers_total{kind, trigger="webhook"} on a fresh /metrics body, every workspace's."""
    exporter.exposition.refresh()
    prefix = f'extend_sync_triggers_total{{kind="{kind}",trigger="webhook",'.encode()
    return sum(
        int(float(line.rsplit(b" ", 1)[1]))
        for line in exporter.exposition.current.text.split(b"\n")
        if line.startswith(prefix)
    )


def quantiles(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return {"n": 0}
    return {
        "n": n,
        "p50_s": round(ordered[n // 2], 2),
        "p99_s": round(ordered[min(n - 1, int(n * 0.99))], 2),
        "max_s": round(ordered[-1], 2),
        "mean_s": round(sum(ordered) / n, 2),
    }


class Watch:
    """When each kind's k-th FAILED run happened (simulator) and showed (each exporter's /metrics)."""

    def __init__(self, sim: Simulator, exporters: dict[str, Exporter]) -> None:
        self.failed: dict[str, list[float]] = defaultdict(list)
        self.shown: dict[str, dict[str, list[float]]] = {name: defaultdict(list) for name in exporters}
        self._exporters = exporters
        self._base = {name: failed_counts(e) for name, e in exporters.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        sim.workload.listeners.append(self._on_change)
        self._thread.start()

    def _on_change(self, old: Run, new: Run) -> None:
        if new.status == FAILED and old.status != FAILED and KIND[new.fam] in KINDS:
            self.failed[KIND[new.fam]].append(time.monotonic())

    def _poll(self) -> None:
        while not self._stop.wait(0.05):
            now = time.monotonic()
            for name, exporter in self._exporters.items():
                counts = failed_counts(exporter)
                for kind in KINDS:
                    shown = self.shown[name][kind]
                    while len(shown) < counts[kind] - self._base[name][kind]:
                        shown.append(now)

    def latencies(self, name: str, counted: dict[str, int]) -> list[float]:
        return [
            shown - failed
            for kind in KINDS
            for failed, shown in zip(self.failed[kind][: counted[kind]], self.shown[name][kind], strict=False)
        ]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


# The exporters the latency step compares: (name, EXTEND_EXPORTER_WEBHOOK_MIN_SYNC_INTERVAL_SECONDS or None
# for no webhooks).
VARIANTS = (("webhooks", 1.0), ("webhooks_10s", 10.0), ("polling", None))


def _build(sim: Simulator, interval: float) -> tuple[dict[str, Exporter], dict[str, str]]:
    """The exporters of VARIANTS, and the webhook URL of each that has one."""
    exporters: dict[str, Exporter] = {}
    urls: dict[str, str] = {}
    for name, gap in VARIANTS:
        extra: dict[str, Any] = {}
        if gap is not None:
            port = free_port()
            urls[name] = f"http://127.0.0.1:{port}/webhooks/extend"
            extra = {
                "webhook_listen_address": f"127.0.0.1:{port}",
                "webhook_secret": SECRET,
                "webhook_min_sync_interval_seconds": gap,
            }
        exporters[name] = exporter_for(
            sim.url,
            sim.api_key,
            KINDS,
            listen_address=f"127.0.0.1:{free_port()}",
            poll_interval_seconds=interval,
            max_requests_per_second=10,
            **extra,
        )
    return exporters, urls


def _deliver(sim: Simulator, urls: dict[str, str]) -> list[WebhookSender]:
    """One sender per webhook URL, each fed every run end (Extend with one endpoint per exporter)."""
    senders = [WebhookSender(WebhookConfig(url, SECRET), seed=n) for n, url in enumerate(urls.values())]
    source = EventSource(sim.views, sim.world, "2026-02-09")

    def fan_out(old: Run, new: Run) -> None:
        for event_type, payload in source.events_of(old, new):
            for sender in senders:
                sender.event(event_type, payload)

    for sender in senders:
        sender.start()
    with sim.lock:
        sim.workload.listeners.append(fan_out)
    return senders


def latency(seconds: float, interval: float) -> dict[str, Any]:
    sim = Simulator(
        SimConfig(
            seed=9,
            history=2_000,
            qps_limit=None,
            epoch=datetime.now(UTC).replace(microsecond=0),
            rates=RATES,
            failure_rate=0.15,
            realtime=True,
            speed=1.0,
            tick_seconds=0.01,
        )
    )
    sim.start()
    exporters, urls = _build(sim, interval)
    senders: list[WebhookSender] = []
    try:
        for name, exporter in exporters.items():
            if name in urls:
                exporter.start_webhook_listener(WebhookSecrets(SecretStr(SECRET), None))
            exporter.start_scheduler()
        deadline = time.monotonic() + 60
        while any(e.health.problems() for e in exporters.values()) and time.monotonic() < deadline:
            time.sleep(0.05)  # until every kind has its baseline
        senders = _deliver(sim, urls)
        watch = Watch(sim, exporters)
        started, spent = time.monotonic(), {name: api_requests(e) for name, e in exporters.items()}
        time.sleep(seconds)
        counted = {kind: len(watch.failed[kind]) for kind in KINDS}
        # The polling exporter's next sync: at most one interval plus its jitter (10 s) away.
        catch_up = time.monotonic() + interval + 15
        while time.monotonic() < catch_up and any(len(watch.shown["polling"][k]) < counted[k] for k in KINDS):
            time.sleep(0.5)
        watch.stop()
        hours = (time.monotonic() - started) / 3600
        per_hour = {name: round((api_requests(e) - spent[name]) / hours) for name, e in exporters.items()}
        events = senders[0].stats()["events"]
        triggers = {name: {k: webhook_syncs(exporters[name], k) for k in KINDS} for name in urls}
    finally:
        for sender in senders:
            sender.stop()
        for exporter in exporters.values():
            exporter.stop(deadline_seconds=5)
        sim.stop()
    return {
        "interval_s": interval,
        "seconds": seconds,
        "failures": sum(counted.values()),
        "latency": {name: quantiles(watch.latencies(name, counted)) for name in exporters},
        "min_sync_interval_s": {name: gap for name, gap in VARIANTS if gap is not None},
        "events_delivered": events,
        "events_per_s": round(events / (hours * 3600), 2),
        "api_requests_per_hour": per_hour,
        "webhook_syncs": triggers,
    }


def burst(events: int = 1000) -> dict[str, Any]:
    sim = Simulator(SimConfig(seed=10, history=500, qps_limit=None, rates={}))
    sim.start()
    hook_port = free_port()
    exporter = make_exporter(
        sim,
        KINDS,
        poll_interval_seconds=3600,
        webhook_listen_address=f"127.0.0.1:{hook_port}",
        webhook_secret=SECRET,
    )
    try:
        exporter.start_webhook_listener(WebhookSecrets(SecretStr(SECRET), None))
        exporter.start_scheduler()
        while exporter.health.problems():
            time.sleep(0.05)
        sim.deliver_webhooks(WebhookConfig(f"http://127.0.0.1:{hook_port}/webhooks/extend", SECRET))
        sender = sim.webhooks
        assert sender is not None
        types = ("workflow_run.failed", "extract_run.failed", "parse_run.failed")
        started = time.monotonic()
        for n in range(events):
            sender.event(types[n % len(types)], {"id": f"burst_{n}"})
        while sender.stats()["pending"]:
            time.sleep(0.01)
        took = time.monotonic() - started
        while exporter.hints_pending():
            time.sleep(0.01)
        syncs = {
            kind: int(exporter.workspace.telemetry.sync_triggers.labels(kind, "webhook")._value.get())
            for kind in KINDS
        }
    finally:
        exporter.stop(deadline_seconds=5)
        sim.stop()
    return {"events": events, "delivered_s": round(took, 2), "syncs_per_kind": syncs}


def idle_cost(interval: float, hours: float = 1.0) -> dict[str, Any]:
    sim = Simulator(SimConfig(seed=11, history=10_000, rates={}, qps_limit=None))
    sim.start()
    try:
        exporter = make_exporter(sim)
        for kind in exporter.kinds:
            assert exporter.sync_kind(kind), kind
        before = sum(sim.truth.requests().values())
        rounds = int(hours * 3600 / interval)
        for _ in range(rounds):
            sim.advance(interval)
            for kind in exporter.kinds:
                assert exporter.sync_kind(kind), kind
        spent = sum(sim.truth.requests().values()) - before
        exporter.client.close()
    finally:
        sim.stop()
    return {
        "interval_s": interval,
        "kinds": len(DEFAULT_KIND_NAMES),
        "requests_per_hour": round(spent / hours),
        "req_per_s": round(spent / hours / 3600, 4),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=330.0, help="failures counted for this long")
    ap.add_argument("--interval", type=float, default=300.0)
    json_arg(ap)
    args = ap.parse_args()
    results = {
        "idle_cost": [idle_cost(args.interval), idle_cost(60.0)],
        "burst": burst(),
        "latency": latency(args.seconds, args.interval),
    }
    emit(results, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
