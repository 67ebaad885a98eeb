"""The HTTP server's protocol edges: bodies, header caps, keep-alive, gzip and format negotiation, Server
header."""

from __future__ import annotations

import gzip
import socket
import time
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from exporter.metrics.collector import Exposition
from exporter.web.connections import SILENT_AFTER_SECONDS
from exporter.web.endpoints import wants_openmetrics
from exporter.web.server import Limits, MetricsServer, accepts_gzip
from tests.exporter_process import wait_until
from tests.metrics import exposition_scenario as scenario


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


PROMETHEUS_2 = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
PROMETHEUS_3 = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
    "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,"
    "text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
)


@pytest.mark.parametrize(
    ("header", "openmetrics"),
    [
        (PROMETHEUS_2, True),
        (PROMETHEUS_3, True),
        ("application/openmetrics-text", True),
        ('Application/OpenMetrics-Text; version="1.0.0"', True),
        ("application/openmetrics-text;version=0.0.1", False),  # the pre-1.0 draft: not what we write
        ("application/openmetrics-text;version=2.0.0", False),
        ("application/openmetrics-text;q=0", False),
        ("text/plain, application/openmetrics-text", False),  # a tie keeps the classic format
        ("text/plain;q=0.5, application/openmetrics-text;q=0.6", True),
        ("application/*", True),
        ("application/*;q=0.9, text/*", False),
        ("*/*", False),
        ("*/*;q=0.1, application/openmetrics-text;q=0", False),
        ("text/html, application/xhtml+xml", False),
        ("", False),
    ],
)
def test_openmetrics_negotiation_honours_q_values_and_versions(header: str, openmetrics: bool) -> None:
    assert wants_openmetrics(header) is openmetrics


def _get(port: int, *headers: str) -> tuple[dict[str, str], bytes]:
    request = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + "".join(
        f"{h}\r\n" for h in headers
    )
    head, _, body = _exchange(port, request.encode() + b"\r\n").partition(b"\r\n\r\n")
    fields = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
    return fields, body


def test_metrics_answers_each_format_from_its_cache_gzipped_or_not() -> None:
    exposition = scenario.exposition()
    rendered = exposition.refresh()
    srv = MetricsServer("127.0.0.1", 0, exposition, list)
    srv.start()
    try:
        fields, body = _get(srv.port, f"Accept: {PROMETHEUS_2}", "Accept-Encoding: gzip")
        assert fields["Content-Type"] == "application/openmetrics-text; version=1.0.0; charset=utf-8"
        assert (fields["Content-Encoding"], fields["Vary"]) == ("gzip", "Accept, Accept-Encoding")
        assert body == rendered.openmetrics_gzipped and gzip.decompress(body).endswith(b"# EOF\n")
        fields, body = _get(srv.port, f"Accept: {PROMETHEUS_3}")
        assert body == rendered.openmetrics and "Content-Encoding" not in fields
        fields, body = _get(srv.port, "Accept: */*")  # curl
        assert fields["Content-Type"] == "text/plain; version=1.0.0; charset=utf-8"
        assert body == rendered.text and fields["Vary"] == "Accept, Accept-Encoding"
        fields, body = _get(srv.port, "Accept-Encoding: gzip")
        assert body == rendered.gzipped
    finally:
        srv.stop()


def _capped(silent_after: float = SILENT_AFTER_SECONDS) -> Iterator[MetricsServer]:
    """A server that keeps at most 3 connections, with deadlines far beyond the test."""
    exposition = Exposition(CollectorRegistry())
    exposition.refresh()
    limits = Limits(idle_timeout=30, header_timeout=30, max_connections=3, silent_after=silent_after)
    srv = MetricsServer("127.0.0.1", 0, exposition, list, limits=limits)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def capped() -> Iterator[MetricsServer]:
    yield from _capped()


@pytest.fixture
def capped_in_a_burst() -> Iterator[MetricsServer]:
    """As `capped`, but a silent connection stays young for the whole test, as in a flood's first burst
    on a loaded machine, when every silent connection arrived less than SILENT_AFTER_SECONDS ago."""
    yield from _capped(silent_after=3600)


def _connect(port: int, first: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if first:
        sock.sendall(first)
    return sock


def _heard(srv: MetricsServer, count: int) -> None:
    """Wait until the connection loop has read the first bytes of `count` connections."""
    conns = srv._loop._conns
    wait_until(lambda: sum(c.heard for c in list(conns.values())) >= count, timeout=5)


def _past_the_cap_the_client_that_spoke_is_served(
    srv: MetricsServer, spoke: socket.socket, others: list[socket.socket]
) -> None:
    """One connection more than the cap closes the oldest of `others`; `spoke` gets its answer."""
    try:
        others.append(_connect(srv.port))  # maybe before the loop read what `spoke` sent
        assert others[0].recv(1) == b""
        spoke.sendall(b"Host: x\r\nConnection: close\r\n\r\n")
        assert spoke.recv(65536).startswith(b"HTTP/1.1 200")
    finally:
        for sock in others:
            sock.close()


def test_past_the_cap_a_silent_connection_goes_before_an_older_one_that_spoke(capped: MetricsServer) -> None:
    """A client that has sent part of its request outlives connections silent since they connected,
    though it is older: a flood of silent clients (a TLS flood that never says hello) pushes out only
    its own kind, however slowly the machine lets a real client finish its handshake."""
    with _connect(capped.port, b"GET /healthz HTTP/1.1\r\n") as spoke:
        _heard(capped, 1)
        silent = [_connect(capped.port) for _ in range(2)]
        conns = capped._loop._conns
        wait_until(
            lambda: (
                len(conns) == 3
                and all(
                    c.heard or c.since < time.monotonic() - SILENT_AFTER_SECONDS for c in list(conns.values())
                )
            ),
            timeout=5,
        )
        _past_the_cap_the_client_that_spoke_is_served(capped, spoke, silent)


def test_past_the_cap_a_new_connection_is_not_taken_for_a_silent_one(capped: MetricsServer) -> None:
    """Slow clients that send a little at a time (slowloris) have spoken; a scraper that has just
    connected and sent its first bytes has spoken too, whether or not the loop has read them yet (a
    loaded machine): it must not be the one closed."""
    slow = [_connect(capped.port, b"GET /healthz HTTP/1.1\r\n") for _ in range(2)]
    try:
        _heard(capped, 2)
        with _connect(capped.port, b"GET /healthz HTTP/1.1\r\n") as scraper:
            _past_the_cap_the_client_that_spoke_is_served(capped, scraper, slow)
    finally:
        for sock in slow:
            sock.close()


def test_in_a_burst_of_silent_connections_the_oldest_client_that_spoke_is_kept(
    capped_in_a_burst: MetricsServer,
) -> None:
    """A flood of silent clients arrives at once: none has been silent long enough to be sure of, and the
    oldest connection is a real client mid-request (or mid-TLS-handshake). The silent ones are the most,
    so the oldest of them makes room, not the client that spoke (once in CI: a scraper cut mid-handshake
    by a 3,000-connection TLS flood's first burst)."""
    srv = capped_in_a_burst
    with _connect(srv.port, b"GET /healthz HTTP/1.1\r\n") as spoke:
        _heard(srv, 1)
        silent = [_connect(srv.port) for _ in range(2)]
        conns = srv._loop._conns
        wait_until(lambda: len(conns) == 3, timeout=5)
        _past_the_cap_the_client_that_spoke_is_served(srv, spoke, silent)
