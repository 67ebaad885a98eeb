"""The simulator's webhook deliveries: which events a run end fires per API version, how they are
signed, and what each fault does, against a small recording endpoint on 127.0.0.1."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson
import pytest

from extend_simulator import Simulator
from extend_simulator.config import WebhookConfig, WebhookFaults
from extend_simulator.webhooks import WebhookSender
from tests.exporter_process import wait_until
from tests.simulator.conftest import MakeSim

SECRET = "wss_sim_test_secret"
ZERO_RATES = dict.fromkeys(("workflow", "extract", "classify", "split", "parse", "edit", "verify"), 0.0)


@dataclass
class Endpoint:
    """Records each delivery (eventId, eventType, body, headers); answers `status` (or each of `script`)."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    script: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ids(self) -> list[str]:
        with self.lock:
            return [r["eventId"] for r in self.received]


@contextlib.contextmanager
def endpoint() -> Iterator[Endpoint]:
    ep = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            with ep.lock:
                ep.received.append(
                    {
                        **orjson.loads(raw),
                        "raw": raw,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                    }
                )
                status = ep.script.pop(0) if ep.script else ep.status
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    ep.url = f"http://127.0.0.1:{httpd.server_address[1]}/webhooks/extend"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield ep
    finally:
        httpd.shutdown()
        httpd.server_close()


def sender(sim: Simulator) -> WebhookSender:
    assert sim.webhooks is not None, "deliveries are configured"
    return sim.webhooks


def settled(sim: Simulator) -> dict[str, Any]:
    return wait_until(lambda: (s := sender(sim).stats())["pending"] == 0 and s, timeout=20, interval=0.02)


def test_every_end_is_delivered_signed_with_its_2026_name(make_sim: MakeSim) -> None:
    with endpoint() as ep:
        sim = make_sim(seed=3, rates={**ZERO_RATES, "extract": 60.0, "workflow": 30.0, "parse": 30.0})
        sim.deliver_webhooks(WebhookConfig(ep.url, SECRET))
        mark = sim.mark()
        sim.advance(300)
        stats = settled(sim)
        finished = sim.truth.finished_since(mark)
    types = [r["eventType"] for r in ep.received]
    ends = {
        k: sum(v for key, v in finished.items() if key[0] == k and key[1] in ("PROCESSED", "FAILED"))
        for k in ("extract_run", "parse_run")
    }
    assert types.count("extract_run.processed") + types.count("extract_run.failed") == ends["extract_run"]
    assert types.count("parse_run.processed") + types.count("parse_run.failed") == ends["parse_run"]
    assert {t for t in types if t.startswith("workflow_run.")} <= {
        "workflow_run.completed",
        "workflow_run.failed",
        "workflow_run.needs_review",
        "workflow_run.rejected",
        "workflow_run.cancelled",
    }
    assert stats["events"] == len(ep.received) == stats["sent"] and stats["answers"] == {"200": len(types)}
    for r in ep.received:
        ts, sig = r["headers"]["x-extend-request-timestamp"], r["headers"]["x-extend-request-signature"]
        assert sig == hmac.new(SECRET.encode(), f"v0:{ts}:".encode() + r["raw"], hashlib.sha256).hexdigest()
        assert r["payload"]["id"]
    parse = next(r for r in ep.received if r["eventType"].startswith("parse_run."))
    assert parse["payload"]["object"] == "parse_run_status"


def test_legacy_endpoints_get_processor_run_and_parser_run(make_sim: MakeSim) -> None:
    with endpoint() as ep:
        sim = make_sim(seed=4, rates={**ZERO_RATES, "classify": 60.0, "parse": 30.0, "edit": 30.0})
        sim.deliver_webhooks(WebhookConfig(ep.url, SECRET, api_version="2025-04-21"))
        sim.advance(300)
        settled(sim)
    types = {r["eventType"] for r in ep.received}
    assert types <= {
        "processor_run.processed",
        "processor_run.failed",
        "parser_run.processed",
        "parser_run.failed",
    }
    assert "processor_run.processed" in types and "parser_run.processed" in types
    assert {r["payload"]["type"] for r in ep.received if r["eventType"].startswith("processor_run")} == {
        "CLASSIFY"
    }


def test_a_batch_event_follows_its_last_run(make_sim: MakeSim) -> None:
    with endpoint() as ep:
        sim = make_sim(
            seed=5,
            rates={**ZERO_RATES, "parse": 20.0},
            sources={"parse": {"BATCH_PARSER_RUN": 1.0}},
        )
        sim.deliver_webhooks(WebhookConfig(ep.url, SECRET))
        sim.advance(180)
        settled(sim)
    batches = [r for r in ep.received if r["eventType"].startswith("batch_parse_run.")]
    assert batches and all(r["payload"]["object"] == "batch_run" for r in batches)
    for r in batches:
        index = ep.received.index(r)
        assert index > 0 and ep.received[index - 1]["eventType"].startswith("parse_run.")
    assert len({r["payload"]["id"] for r in batches}) == len(batches)  # once per batch


def test_faults_and_redelivery_are_counted(make_sim: MakeSim) -> None:
    faults = WebhookFaults(
        drop=0.1, duplicate=0.1, delay=0.1, delay_seconds=0.2, reorder=0.1, bad_signature=0.1
    )
    with endpoint() as ep:
        sim = make_sim(seed=6, rates={**ZERO_RATES, "extract": 120.0, "parse": 120.0})
        sim.deliver_webhooks(WebhookConfig(ep.url, SECRET, faults=faults, retry_seconds=0.05))
        sim.advance(240)
        stats = settled(sim)
    ids = ep.ids()
    unique = set(ids)
    for name in ("dropped", "duplicated", "delayed", "reordered", "bad_signature"):
        assert stats[name] > 0, (name, stats)
    # Every event not dropped arrives; a duplicate twice; a mis-signed one again (it was answered 200
    # here, so it is not redelivered: the endpoint accepted it).
    assert len(unique) == stats["events"] - stats["dropped"]
    assert len(ids) == len(unique) + stats["duplicated"]
    assert stats["redelivered"] == 0
    order = [int(i[4:12]) for i in ids]
    assert order != sorted(order)  # delayed and reordered events arrive late


def test_non_2xx_answers_are_redelivered_then_given_up(make_sim: MakeSim) -> None:
    with endpoint() as ep:
        sim = make_sim(seed=7, rates=ZERO_RATES)
        sim.deliver_webhooks(WebhookConfig(ep.url, SECRET, redeliveries=2, retry_seconds=0.05))
        ep.script = [500, 401, 200]  # the first event: answered 500, then 401, then 200
        first = sender(sim).event("extract_run.failed", {"id": "exr_1"})
        settled(sim)
        ep.status = 503
        second = sender(sim).event("extract_run.failed", {"id": "exr_2"})
        stats = settled(sim)
    assert ep.ids() == [first] * 3 + [second] * 3  # 1 + 2 redeliveries, then given up
    assert stats["answers"] == {"200": 1, "401": 1, "500": 1, "503": 3}
    assert stats["redelivered"] == 4
    stamps = [r["headers"]["x-extend-request-timestamp"] for r in ep.received]
    assert all(s.isdigit() for s in stamps)


def test_the_cli_and_the_control_endpoint(make_sim: MakeSim) -> None:
    from extend_simulator.cli import OneLineParser, add_arguments, config_from_args

    parser = OneLineParser()
    add_arguments(parser)
    args = parser.parse_args(
        [
            "--webhook-url",
            "http://127.0.0.1:1/webhooks/extend",
            "--webhook-secret",
            SECRET,
            "--webhook-drop",
            "0.05",
        ]
    )
    config = config_from_args(args).webhooks
    assert config is not None and config.faults.drop == 0.05 and config.redeliveries == 3
    with pytest.raises(SystemExit):
        parser.parse_args(["--webhook-duplicate", "2"])
    sim = make_sim(seed=8, rates=ZERO_RATES)
    assert httpx.get(f"{sim.url}/_sim/webhooks").status_code == 404
    with endpoint() as ep:
        sim.deliver_webhooks(WebhookConfig(ep.url, SECRET))
        sender(sim).event("parse_run.failed", {"id": "pr_1"})
        settled(sim)
        body = httpx.get(f"{sim.url}/_sim/webhooks").json()
    assert body["events"] == body["sent"] == 1 and body["answers"] == {"200": 1}
