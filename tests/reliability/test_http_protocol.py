"""The HTTP server's protocol edges: bodies, header caps, keep-alive, gzip negotiation, Server header."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from exporter.metrics.collector import Exposition
from exporter.web.server import Limits, MetricsServer, accepts_gzip


@pytest.fixture
def server() -> Iterator[MetricsServer]:
    exposition = Exposition(CollectorRegistry())
    exposition.refresh()
    srv = MetricsServer("127.0.0.1", 0, exposition, list, limits=Limits(idle_timeout=0.5, header_timeout=1.0))
    srv.start()
    yield srv
    srv.stop()


def _exchange(port: int, payload: bytes, timeout: float = 5) -> bytes:
    """Send raw bytes; return everything the server sends until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_a_get_body_is_refused_not_parsed_as_a_second_request(server: MetricsServer) -> None:
    smuggled = b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
    body = b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(smuggled), smuggled)
    reply = _exchange(server.port, body)
    assert reply.startswith(b"HTTP/1.1 413") and reply.count(b"HTTP/1.1") == 1, reply
    reply = _exchange(server.port, b"GET /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400") and reply.count(b"HTTP/1.1") == 1, reply


def test_pipelined_requests_on_a_kept_alive_connection_are_answered_in_order(server: MetricsServer) -> None:
    two = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + b"GET /readyz HTTP/1.1\r\nConnection: close\r\n\r\n"
    reply = _exchange(server.port, two)
    assert reply.count(b"HTTP/1.1 200") == 2 and reply.index(b"ok\n") < reply.index(b"ready\n"), reply


def test_an_idle_kept_alive_connection_is_closed_after_the_idle_timeout(server: MetricsServer) -> None:
    started = time.monotonic()
    reply = _exchange(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200")
    assert 0.4 < time.monotonic() - started < 3.0


def test_header_bytes_are_capped_at_32_kib(server: MetricsServer) -> None:
    lines = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"a" * 100) for i in range(400))  # ~44 KB, short lines
    reply = _exchange(server.port, b"GET /healthz HTTP/1.1\r\n" + lines + b"\r\n")
    assert reply.startswith(b"HTTP/1.1 431"), reply[:80]


def test_the_server_header_names_no_interpreter(server: MetricsServer) -> None:
    reply = _exchange(server.port, b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
    server_line = next(line for line in reply.split(b"\r\n") if line.lower().startswith(b"server:"))
    assert server_line.startswith(b"Server: extend-exporter/") and b"Python" not in reply, server_line


@pytest.mark.parametrize(
    ("header", "gzip"),
    [
        ("gzip", True),
        ("gzip;q=0", False),
        ("gzip; q=0.0, identity", False),
        ("deflate, gzip;q=0.5", True),
        ("*", True),
        ("*;q=0", False),
        ("*, gzip;q=0", False),
        ("identity", False),
        ("", False),
        ("GZIP;Q=1", True),
    ],
)
def test_gzip_negotiation_honours_q_values(header: str, gzip: bool) -> None:
    assert accepts_gzip(header) is gzip
