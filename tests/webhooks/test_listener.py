"""The webhook listener over real sockets: answers, keep-alive, bodies read under their deadline."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import CollectorRegistry

from exporter.metrics.telemetry import WebhookTelemetry
from exporter.web.server import Limits
from exporter.webhooks.listener import PATH, WebhookServer
from exporter.webhooks.receiver import MAX_BODY_BYTES, Receiver
from exporter.webhooks.verify import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from tests.exporter_process import wait_until
from tests.webhooks.test_receiver import Recorded

SECRET = "wss_listener_test_secret"
BODY_TIMEOUT = 0.5


class Listener:
    def __init__(self, server: WebhookServer, rec: Recorded, registry: CollectorRegistry) -> None:
        self.server, self.rec, self.registry = server, rec, registry
        self.url = f"http://127.0.0.1:{server.port}{PATH}"

    def count(self, event_type: str, outcome: str) -> float:
        labels = {"event_type": event_type, "outcome": outcome}
        return self.registry.get_sample_value("extend_webhook_events_total", labels) or 0.0

    def rejected(self, reason: str) -> float:
        labels = {"reason": reason}
        return self.registry.get_sample_value("extend_webhook_http_connections_rejected_total", labels) or 0.0


@pytest.fixture
def listener() -> Iterator[Listener]:
    rec = Recorded()
    registry = CollectorRegistry()
    metrics = WebhookTelemetry(registry)
    receiver = Receiver(lambda: [SECRET], rec, metrics.count, metrics.last_accepted.set)
    limits = Limits(
        header_timeout=1.0,
        idle_timeout=2.0,
        max_connections=32,
        max_body_bytes=MAX_BODY_BYTES,
        body_timeout=BODY_TIMEOUT,
        max_buffered_body_bytes=3 * MAX_BODY_BYTES,
    )
    server = WebhookServer("127.0.0.1", 0, receiver, limits=limits, rejected=metrics.connections_rejected)
    server.start()
    yield Listener(server, rec, registry)
    server.stop()


def delivery(event_id: str = "evt_1", event_type: str = "parse_run.failed") -> tuple[bytes, dict[str, str]]:
    raw = json.dumps({"eventId": event_id, "eventType": event_type, "payload": {"id": "pr_1"}}).encode()
    ts = str(int(time.time()))
    return raw, {
        TIMESTAMP_HEADER: ts,
        SIGNATURE_HEADER: signature(SECRET, ts, raw),
        "Content-Type": "application/json",
    }


def test_deliveries_on_one_kept_alive_connection(listener: Listener) -> None:
    with httpx.Client(timeout=5) as client:
        for n, expected in ((1, "accepted"), (1, "duplicate"), (2, "accepted")):
            raw, headers = delivery(f"evt_{n}")
            response = client.post(listener.url, content=raw, headers=headers)
            assert (response.status_code, response.text) == (200, f"{expected}\n")
        assert client.post(listener.url, content=b"{}").status_code == 401
    assert listener.rec.syncs == ["parse_run", "parse_run"]
    assert listener.count("parse_run.failed", "accepted") == 2
    assert listener.count("UNKNOWN", "bad_signature") == 1


def test_other_paths_and_methods(listener: Listener) -> None:
    base = listener.url.removesuffix(PATH)
    raw, headers = delivery()
    assert httpx.post(f"{base}/metrics", content=raw, headers=headers).status_code == 404
    response = httpx.get(listener.url)
    assert response.status_code == 405 and response.headers["Allow"] == "POST"
    assert listener.rec.syncs == []


def test_a_body_over_1_mib_is_refused_unread_and_the_client_reads_why(listener: Listener) -> None:
    with socket.create_connection(("127.0.0.1", listener.server.port), timeout=5) as sock:
        sock.sendall(
            f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {50 * MAX_BODY_BYTES}\r\n\r\n".encode()
            + b"x" * 65536
        )
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 413 ") and b"over 1048576" in answer
    assert listener.count("UNKNOWN", "too_large") == 1


def test_expect_100_continue_is_answered_before_the_body(listener: Listener) -> None:
    raw, headers = delivery()
    head = f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(raw)}\r\nExpect: 100-continue\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "Connection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", listener.server.port), timeout=5) as sock:
        sock.sendall(head.encode())
        assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(raw)
        answer = _read_all(sock)
    assert b"200 OK" in answer and answer.endswith(b"accepted\n")


def test_a_body_sent_too_slowly_is_cut_at_its_deadline(listener: Listener) -> None:
    with socket.create_connection(("127.0.0.1", listener.server.port), timeout=5) as sock:
        sock.sendall(f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc".encode())
        started = time.monotonic()
        assert _read_all(sock) == b""  # closed, no answer
        assert BODY_TIMEOUT * 0.8 <= time.monotonic() - started <= BODY_TIMEOUT + 1.5
    assert listener.rejected("body_timeout") == 1
    assert listener.count("UNKNOWN", "malformed") == 0  # a cut body is no delivery


def test_chunked_bodies_are_refused(listener: Listener) -> None:
    with socket.create_connection(("127.0.0.1", listener.server.port), timeout=5) as sock:
        sock.sendall(
            f"POST {PATH} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            + b"5\r\nhello\r\n0\r\n\r\n"
        )
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 400 ") and b"Content-Length" in answer
    assert listener.count("UNKNOWN", "malformed") == 1


def test_bodies_being_read_share_a_byte_budget(listener: Listener) -> None:
    """Four senders each stalled after ~1 MiB: past the 3 MiB budget the oldest is closed."""
    socks = []
    try:
        for _ in range(4):
            sock = socket.create_connection(("127.0.0.1", listener.server.port), timeout=5)
            sock.sendall(
                f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY_BYTES}\r\n\r\n".encode()
                + b"x" * (MAX_BODY_BYTES - 10)
            )
            socks.append(sock)
            time.sleep(0.05)
        wait_until(lambda: listener.rejected("connection_limit") >= 1, timeout=BODY_TIMEOUT, interval=0.01)
        assert _read_all(socks[0]) == b""  # the oldest, closed
    finally:
        for sock in socks:
            sock.close()


def _read_all(sock: socket.socket) -> bytes:
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out
