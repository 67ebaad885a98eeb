"""Webhooks as hints, end to end: the simulator delivers signed events of its run ends to the exporter's
webhook listener with faults switched on, and the counts on /metrics stay exactly the simulator's truth.

The exporter runs in-process on the simulator's virtual clock with its real scheduler, HTTP listener
and a one-hour poll interval, so after the first sync of each kind only webhooks make it sync. The
simulator's sender is the ground truth of deliveries: what it made, dropped, duplicated and what the
listener answered.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from exporter.api.apikey import ApiKeySource
from exporter.app import Exporter
from exporter.config import load_settings
from exporter.factory import build_exporter
from exporter.webhooks.hints import MIN_GAP_SECONDS
from exporter.webhooks.secrets import WebhookSecrets
from extend_simulator import SimConfig, Simulator
from extend_simulator.config import WebhookConfig, WebhookFaults
from extend_simulator.webhooks import WebhookSender, sign
from tests.exporter_process import free_port, parse_metrics, series, wait_until
from tests.reliability.truth import counts_from_metrics, diff, truth_counts

SECRET = "wss_e2e_webhook_secret_5c1d"
KINDS = ("workflow_run", "extract_run", "classify_run", "parse_run", "processor_run")
RATES = {
    "workflow": 20.0,
    "extract": 60.0,
    "classify": 30.0,
    "split": 0.0,
    "parse": 60.0,
    "edit": 0.0,
    "verify": 0.0,
}
# One event type per kind family whose events hint each watched kind.
HINT_OF = {
    "workflow_run": "workflow_run.failed",
    "extract_run": "extract_run.failed",
    "classify_run": "classify_run.failed",
    "parse_run": "parse_run.failed",
}
FAULTS = WebhookFaults(
    drop=0.05, duplicate=0.05, delay=0.1, delay_seconds=1.0, reorder=0.05, bad_signature=0.03
)


@dataclass
class Loop:
    sim: Simulator
    exporter: Exporter
    url: str
    mark: int

    def samples(self) -> Any:
        self.exporter.exposition.refresh()  # not only at the next sync or 5 s refresh
        return parse_metrics(self.exporter.exposition.current.text.decode())

    def value(self, name: str, **labels: str) -> float:
        return sum(series(self.samples(), name, **labels).values())

    def triggers(self, kind: str, trigger: str = "webhook") -> float:
        return self.value("extend_sync_triggers_total", kind=kind, trigger=trigger)

    def events(self, outcome: str) -> float:
        return self.value("extend_webhook_events_total", outcome=outcome)

    def diff(self) -> dict[str, Any]:
        return diff(counts_from_metrics(self.samples(), KINDS), truth_counts(self.sim, self.mark, KINDS))

    def post(self, body: bytes, ts: int | None = None, secret: str = SECRET) -> httpx.Response:
        stamp = str(int(time.time()) if ts is None else ts)
        headers = {
            "x-extend-request-timestamp": stamp,
            "x-extend-request-signature": sign(secret, stamp, body),
        }
        return httpx.post(self.url, content=body, headers=headers, timeout=5)

    def hint_every_kind(self, tag: str) -> None:
        """One genuine delivery per kind family, as Extend's next run end would bring."""
        for n, event_type in enumerate(HINT_OF.values()):
            body = json.dumps({"eventId": f"evt_{tag}_{n}", "eventType": event_type, "payload": {"id": "x"}})
            assert self.post(body.encode()).status_code == 200


def sender(sim: Simulator) -> WebhookSender:
    assert sim.webhooks is not None, "deliveries are configured"
    return sim.webhooks


def settled(sim: Simulator) -> dict[str, Any]:
    return wait_until(lambda: (s := sender(sim).stats())["pending"] == 0 and s, timeout=30, interval=0.05)


@pytest.fixture(scope="module")
def loop() -> Iterator[Loop]:
    sim = Simulator(
        SimConfig(seed=21, history=400, qps_limit=None, rates=RATES, durations=dict.fromkeys(RATES, 4.0))
    )
    sim.start(host="127.0.0.1", port=0)
    port = free_port()
    settings = load_settings(
        {
            "api_key": sim.api_key,
            "api_base_url": sim.url,
            "kinds": ",".join(KINDS),
            "max_requests_per_second": 100,
            "sync_overlap_seconds": 60,
            "poll_interval_seconds": 3600,
            "webhook_listen_address": f"127.0.0.1:{port}",
            "webhook_secret": SECRET,
        }
    )
    exporter = build_exporter(
        settings, ApiKeySource(settings.api_key, None), clock=lambda: sim.now().timestamp()
    )
    mark = sim.mark()  # the virtual clock stands still until the tests move it: the baseline sees no ends
    exporter.load_state()
    exporter.start_webhook_listener(WebhookSecrets(SecretStr(SECRET), None))
    exporter.start_scheduler()
    try:
        wait_until(lambda: not exporter.health.problems(), timeout=30, message="every kind's first sync")
        yield Loop(sim, exporter, f"http://127.0.0.1:{port}/webhooks/extend", mark)
    finally:
        assert exporter.stop(deadline_seconds=10)
        sim.stop()


def test_counts_stay_exact_whatever_the_deliveries_do(loop: Loop) -> None:
    sim = loop.sim
    sim.deliver_webhooks(WebhookConfig(loop.url, SECRET, faults=FAULTS, retry_seconds=0.2))
    for _ in range(15):  # ~ 400 run ends over 150 virtual seconds, delivered as they happen
        sim.advance(10)
        time.sleep(0.2)
    stats = settled(sim)
    for fault in ("dropped", "duplicated", "delayed", "reordered", "bad_signature"):
        assert stats[fault] > 0, stats
    # Every delivery answered as it deserved, each event accepted once whatever its copies did.
    wait_until(lambda: loop.events("accepted") == stats["events"] - stats["dropped"], timeout=5)
    answers = stats["answers"]
    assert loop.events("duplicate") + loop.events("accepted") == answers["200"]
    assert loop.events("bad_signature") == answers.get("401", 0) >= stats["bad_signature"]
    # Dropped events' runs were counted by later syncs of their kind; the last ones by the next delivery.
    loop.hint_every_kind("final")
    wait_until(lambda: not loop.diff(), timeout=15, message="counts equal to the simulator's truth")
    for kind in KINDS:
        assert loop.triggers(kind, "schedule") == 1, kind  # only the first sync came from the schedule
        assert loop.triggers(kind) > 0, kind
    assert sum(loop.triggers(k) for k in KINDS) < stats["events"] / 2  # coalesced: far fewer syncs
    print(
        f"\n{stats['events']} events ({stats}); syncs by webhook: "
        + ", ".join(f"{k} {loop.triggers(k):g}" for k in KINDS)
    )


def test_forged_replayed_and_oversized_requests_change_nothing(loop: Loop) -> None:
    sim = loop.sim
    sim.deliver_webhooks(None)  # runs end unannounced: only a hint makes the exporter see them
    sim.advance(30)
    assert loop.diff(), "runs ended while deliveries were off"
    wait_until(lambda: not loop.exporter.hints_pending(), timeout=10, message="earlier hinted syncs started")
    before = {k: loop.triggers(k) for k in KINDS}
    refused = {o: loop.events(o) for o in ("bad_signature", "stale", "too_large", "malformed")}
    body = json.dumps({"eventId": "evt_attack", "eventType": "extract_run.failed", "payload": {"id": "x"}})
    assert loop.post(body.encode(), secret="wss_guessed").status_code == 401  # forged
    assert loop.post(body.encode(), ts=int(time.time()) - 600).status_code == 400  # replayed 10 min later
    assert loop.post(b" " * (1024 * 1024 + 1)).status_code == 413  # oversized, signed or not
    assert loop.post(b"{not json").status_code == 400  # signed, malformed
    assert {o: loop.events(o) - n for o, n in refused.items()} == dict.fromkeys(refused, 1.0)
    # The genuine delivery of the same event now: one sync of each kind it names, no more.
    assert loop.post(body.encode()).status_code == 200
    wait_until(lambda: loop.triggers("extract_run") == before["extract_run"] + 1, timeout=10)
    wait_until(lambda: loop.triggers("processor_run") == before["processor_run"] + 1, timeout=10)
    assert all(loop.triggers(k) == before[k] for k in ("workflow_run", "classify_run", "parse_run"))
    loop.hint_every_kind("after-attack")
    wait_until(lambda: not loop.diff(), timeout=15, message="counts equal to the simulator's truth")


def test_a_burst_of_1000_events_costs_a_few_syncs(loop: Loop) -> None:
    sim = loop.sim
    sim.deliver_webhooks(WebhookConfig(loop.url, SECRET))
    wait_until(lambda: not loop.exporter.hints_pending(), timeout=10, message="earlier hinted syncs started")
    accepted, before = loop.events("accepted"), {k: loop.triggers(k) for k in KINDS}
    types = list(HINT_OF.values())
    started = time.monotonic()
    with sim.lock:  # one burst, queued at once
        for n in range(1000):
            sender(sim).event(types[n % len(types)], {"id": f"burst_{n}"})
    settled(sim)
    burst_seconds = time.monotonic() - started
    wait_until(lambda: loop.events("accepted") == accepted + 1000, timeout=10)
    # Every kind: one sync at once, then at most one per MIN_GAP_SECONDS while the burst lasts, one after.
    bound = math.ceil(burst_seconds / MIN_GAP_SECONDS) + 2
    wait_until(lambda: not loop.exporter.hints_pending(), timeout=10, message="the burst's syncs started")
    syncs = {k: loop.triggers(k) - before[k] for k in KINDS}
    print(
        f"\n1000 events delivered in {burst_seconds:.2f} s: syncs by webhook per kind {syncs} (bound {bound})"
    )
    assert all(1 <= n <= bound for n in syncs.values()), (syncs, bound)


def test_a_signed_batch_delivery_makes_the_exporter_follow_that_batch(loop: Loop) -> None:
    """A classify batch is found only by ID or webhook (its runs' summaries carry no batchId). A signed
    `batch_processor_run.*` delivery makes the exporter track it; what it shows and counts comes from the
    API: an event saying FAILED about a batch still queued shows it queued, counts nothing, and the
    batch's end is counted once, with the API's status, however many deliveries name it."""
    sim = loop.sim
    sim.deliver_webhooks(None)  # only the deliveries signed here
    wait_until(lambda: not loop.exporter.hints_pending(), timeout=10, message="earlier hinted syncs started")
    held = sim.submit_batch("classify", 4, hold_seconds=60)
    tracker = loop.exporter.workspace.batches
    assert tracker is not None

    def delivery(event_id: str, event_type: str) -> bytes:
        payload = {"object": "signed_data_url", "data": "https://example.invalid/batch", "id": held}
        return json.dumps({"eventId": event_id, "eventType": event_type, "payload": payload}).encode()

    def info() -> dict[str, str] | None:
        found = series(loop.samples(), "extend_batch_info", batch_id=held)
        return dict(next(iter(found))) if found else None

    def finished() -> dict[str, float]:
        counted = series(loop.samples(), "extend_batches_finished_total", kind="classify_run")
        return {dict(labels)["status"]: v for labels, v in counted.items()}

    before = finished()
    forged = delivery("evt_batch_forged", "batch_processor_run.failed")
    assert loop.post(forged, secret="wss_guessed").status_code == 401
    assert held not in tracker.book.batches  # a forged delivery tracks nothing
    assert loop.post(delivery("evt_batch_1", "batch_processor_run.failed")).status_code == 200
    shown = wait_until(info, timeout=15, interval=0.1, message="the delivered batch on /metrics")
    assert (shown["kind"], shown["status"]) == ("classify_run", sim.batch_status(held))
    assert shown["status"] in ("PENDING", "PROCESSING")  # the API's word, not the event's
    assert finished() == before
    pending = series(loop.samples(), "extend_batch_runs", batch_id=held, status="PENDING")
    assert {dict(labels)["kind"]: n for labels, n in pending.items()} == {"classify_run": 4.0}
    sim.advance(120)  # the hold ends and the batch's runs finish
    ended = sim.batch_status(held)
    assert ended in ("PROCESSED", "FAILED"), ended
    for n in (2, 3):  # its end announced twice (two event IDs): counted once
        assert (
            loop.post(delivery(f"evt_batch_{n}", f"batch_processor_run.{ended.lower()}")).status_code == 200
        )
        wait_until(lambda: (i := info()) is not None and i["status"] == ended, timeout=15, interval=0.1)
    wait_until(lambda: not loop.exporter.hints_pending(), timeout=10, message="the hinted syncs started")
    assert finished() == {**before, ended: before.get(ended, 0.0) + 1}
    members = {s: n for s, n in sim.batch_members(held).items() if n}
    shown_runs = {
        dict(labels)["status"]: v
        for labels, v in series(loop.samples(), "extend_batch_runs", batch_id=held).items()
        if v
    }
    assert shown_runs == members
