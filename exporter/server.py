"""The HTTP server: /metrics (cached exposition), /healthz, /readyz and a landing page.

With basic auth configured (web config), /metrics and the landing page need credentials; /healthz and
/readyz do not, so liveness and readiness probes (kubelet, the image's HEALTHCHECK) work without a
password in the pod spec. They reveal nothing but up/ready: /readyz lists its reasons only to
authorised callers. TLS, when configured, covers every path.

What a client can hold is bounded (README, Endpoints). One thread runs a selector loop that accepts
connections, does TLS handshakes and reads each request's line and headers without blocking, under
a deadline for the whole head (not per byte) and a cap on its bytes; only a complete request head is
handed to a small fixed pool of worker threads, which answer it and give a kept-alive connection back
to the loop. So slow or silent clients cost a file descriptor and at most MAX_HEADER_BYTES each, never
a thread, and the thread count is fixed (workers + 1). Past `max_connections` the oldest connection
still waiting for its request (or idle between requests) is closed to make room: Prometheus and the
kubelet send their request as soon as they connect, so they stay the newest and are served, while a
flood of silent connections pushes out only its own kind.

Why the stdlib and not a server library: the exporter needs one small loop with four deadlines; the
candidates (waitress, cheroot, gunicorn) either bound connections with threads per connection again or
bring a WSGI stack and a process model the single-process exporter does not want.
"""

from __future__ import annotations

import collections
import contextlib
import io
import logging
import queue
import selectors
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import Counter
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from . import __version__, fatal
from .collector import Exposition

log = logging.getLogger(__name__)

LANDING = """<!doctype html>
<html><head><title>Extend exporter</title></head>
<body><h1>Extend exporter</h1><p>Version {version}</p>
<ul><li><a href="metrics">/metrics</a></li><li><a href="healthz">/healthz</a></li>
<li><a href="readyz">/readyz</a></li></ul></body></html>
"""
# Probes reach these without credentials (see the module docstring).
PROBE_PATHS = frozenset({"/healthz", "/readyz"})
# A thread that wants the GIL waits up to the switch interval (5 ms by default) for a running thread to
# hand it over, and answering a scrape needs it back several times (after accept, recv, send). While a
# sync parses pages, that made the scrape tail: at 10k series with a sync running (bench/scrape.py,
# median of 3 runs) gzip p99 was 21 ms at 5 ms, 8-16 ms at 0.2-1 ms, alike within the noise. A forced
# switch happens only when a thread waits, so an idle exporter pays nothing for it.
SWITCH_INTERVAL_SECONDS = 0.0005
# nginx's default (large_client_header_buffers 4 8k) is 32 KiB; a scrape's head is a few hundred bytes.
MAX_HEADER_BYTES = 32 * 1024
# Workers answer complete requests from the cache: a scrape takes about a millisecond, so a handful
# serves many scrapers; they only wait on slow readers of the response (bounded by WRITE_TIMEOUT).
WORKERS = 8
# Requests waiting for a worker beyond this are answered 503 at once rather than queued for long.
MAX_QUEUED = 64
# After a refusal (431, 503) the request's unread bytes are read and dropped for at most this long
# and this many bytes, so that closing does not reset the connection before the client reads why.
DRAIN_SECONDS = 1.0
DRAIN_BYTES = 256 * 1024
# Sending one response (a large /metrics to a client that does not read) may take this long in total.
WRITE_TIMEOUT_SECONDS = 10.0
WARN_INTERVAL_SECONDS = 10.0


@dataclass(frozen=True)
class Limits:
    """What one client may hold; settable (config.py, EXTEND_EXPORTER_HTTP_*)."""

    header_timeout: float = 5.0
    idle_timeout: float = 30.0
    tls_handshake_timeout: float = 5.0
    max_connections: int = 256


class _Server(ThreadingHTTPServer):
    # Binds and listens only (and keeps wrap_socket's interface); MetricsServer runs the loop.
    # socketserver's default listen backlog is 5: a burst of scrapers overflowed it, and each dropped
    # SYN cost its client a 200 ms (then 400 ms) retransmission -- the whole p99 of the benchmark.
    # 1024 (capped by net.core.somaxconn): under a flood of connections a full accept queue drops
    # handshakes, and their clients then wait seconds for SYN-ACK retransmissions; the loop accepts
    # (and makes room) quickly, so a longer queue costs only kernel memory.
    request_queue_size = 1024


class _Conn:
    __slots__ = ("buf", "deadline", "drained", "reason", "since", "sock", "stage")

    def __init__(self, sock: socket.socket, stage: str, deadline: float, reason: str | None) -> None:
        self.sock = sock
        self.stage = stage  # "handshake", "head" (reading a request), "idle" (kept alive) or "drain"
        self.drained = 0
        self.deadline = deadline
        self.reason = reason  # counted when the deadline passes; None for an idle keep-alive
        self.buf = bytearray()
        self.since = time.monotonic()


class _RateLimitedWarning:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: collections.Counter[str] = collections.Counter()
        self._last = 0.0

    def note(self, reason: str) -> None:
        with self._lock:
            self._pending[reason] += 1
            now = time.monotonic()
            if now - self._last < WARN_INTERVAL_SECONDS:
                return
            self._last = now
            summary = ", ".join(f"{r}={n}" for r, n in sorted(self._pending.items()))
            self._pending.clear()
        log.warning(
            "HTTP server refused or closed connections (%s); see the rejected-connections counter",
            summary,
        )


class MetricsServer:
    def __init__(
        self,
        host: str,
        port: int,
        exposition: Exposition,
        readiness: Callable[[], list[str]],
        *,
        authorize: Callable[[str | None], bool] | None = None,
        wrap_socket: Callable[[ThreadingHTTPServer], None] | None = None,
        limits: Limits | None = None,
        rejected: Counter | None = None,
    ) -> None:
        self._handler = _make_handler(exposition, readiness, authorize)
        self._httpd = _Server((host, port), self._handler, bind_and_activate=True)
        if wrap_socket is not None:
            wrap_socket(self._httpd)
        self._listen = self._httpd.socket
        self._tls = isinstance(self._listen, ssl.SSLSocket)
        self._listen.setblocking(False)
        self._limits = limits or Limits()
        self._rejected = rejected
        self._warning = _RateLimitedWarning()
        self._conns: dict[socket.socket, _Conn] = {}
        self._busy = 0  # connections handed to workers (queued or being answered)
        self._busy_lock = threading.Lock()
        self._work: queue.Queue[tuple[socket.socket, bytes, bytes] | None] = queue.Queue(MAX_QUEUED)
        self._returned: collections.deque[tuple[socket.socket, bytes]] = collections.deque()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._stopping = False
        self._sel = selectors.DefaultSelector()
        self._thread = threading.Thread(target=self._loop, name="http", daemon=True)
        self._workers = [
            threading.Thread(target=self._worker, name=f"http-worker-{i}", daemon=True)
            for i in range(WORKERS)
        ]

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> None:
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        for worker in self._workers:
            worker.start()
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._wake()
        if self._thread.is_alive():
            self._thread.join(5)
        for _ in self._workers:
            try:
                self._work.put_nowait(None)
            except queue.Full:
                break
        self._httpd.server_close()

    # --- the selector loop -------------------------------------------------------------------------

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # a full pipe: the loop is awake anyway
            self._wake_w.send(b"x")

    def _count(self, reason: str) -> None:
        if self._rejected is not None:
            self._rejected.labels(reason).inc()
        self._warning.note(reason)

    def _loop(self) -> None:
        self._sel.register(self._listen, selectors.EVENT_READ, None)
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while not self._stopping:
                now = time.monotonic()
                soonest = min((c.deadline for c in self._conns.values()), default=now + 1.0)
                for key, _ in self._sel.select(max(0.0, min(soonest - now, 1.0))):
                    try:
                        if key.data is None:
                            self._accept()
                        elif key.data == "wake":
                            self._take_returned()
                        else:
                            self._readable(key.data)
                    except MemoryError:  # a subclass of Exception, but the process cannot go on
                        fatal.out_of_memory("the HTTP server")
                    except Exception:  # one connection's surprise must not stop the server
                        log.warning("HTTP server: unexpected error, connection dropped", exc_info=True)
                        if isinstance(key.data, _Conn):
                            self._close(key.data)
                self._expire(time.monotonic())
        finally:
            for conn in list(self._conns.values()):
                self._close(conn)
            self._sel.close()

    def _take_returned(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        while self._returned:
            sock, rest = self._returned.popleft()
            now = time.monotonic()
            conn = _Conn(sock, "idle", now + self._limits.idle_timeout, None)
            conn.buf += rest
            self._conns[sock] = conn
            self._sel.register(sock, selectors.EVENT_READ, conn)
            if rest:
                self._start_head(conn, now)
                self._try_dispatch(conn)

    def _accept(self) -> None:
        for _ in range(64):
            try:
                sock, _addr = self._listen.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ssl.SSLError:
                continue
            except OSError:  # EMFILE and friends: make room for the next one
                self._count("accept_failed")
                if not self._evict_oldest():
                    return
                continue
            if len(self._conns) + self._busy >= self._limits.max_connections and not self._evict_oldest():
                self._count("connection_limit")
                sock.close()
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            now = time.monotonic()
            if self._tls:
                conn = _Conn(
                    sock, "handshake", now + self._limits.tls_handshake_timeout, "tls_handshake_timeout"
                )
            else:
                conn = _Conn(sock, "head", now + self._limits.header_timeout, "header_timeout")
            self._conns[sock] = conn
            self._sel.register(sock, selectors.EVENT_READ, conn)

    def _evict_oldest(self) -> bool:
        if not self._conns:
            return False
        oldest = min(self._conns.values(), key=lambda c: c.since)
        self._count("connection_limit")
        self._close(oldest)
        return True

    def _close(self, conn: _Conn) -> None:
        self._conns.pop(conn.sock, None)
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(conn.sock)
        conn.sock.close()

    def _expire(self, now: float) -> None:
        for conn in [c for c in self._conns.values() if c.deadline <= now]:
            if conn.reason is not None:
                self._count(conn.reason)
            self._close(conn)

    def _start_head(self, conn: _Conn, now: float) -> None:
        if conn.stage == "idle":
            conn.stage = "head"
            conn.since = now
            conn.deadline = now + self._limits.header_timeout
            conn.reason = "header_timeout"

    def _readable(self, conn: _Conn) -> None:
        sock = conn.sock
        if conn.stage == "drain":
            self._drain(conn)
            return
        if conn.stage == "handshake":
            assert isinstance(sock, ssl.SSLSocket)
            try:
                sock.do_handshake()
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except (OSError, ValueError):
                log.debug("TLS handshake failed", exc_info=True)
                self._close(conn)
                return
            conn.stage = "head"
            conn.deadline = time.monotonic() + self._limits.header_timeout
            conn.reason = "header_timeout"
        # Read until the socket would block (TLS may hold decrypted bytes the selector cannot see).
        while len(conn.buf) <= MAX_HEADER_BYTES:
            try:
                data = sock.recv(MAX_HEADER_BYTES + 1 - len(conn.buf))
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            except (OSError, ValueError):
                data = b""
            if not data:
                self._close(conn)
                return
            self._start_head(conn, time.monotonic())
            conn.buf += data
        self._try_dispatch(conn)

    def _drain(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except (OSError, ValueError):
            data = b""
        conn.drained += len(data)
        if not data or conn.drained >= DRAIN_BYTES:
            self._close(conn)

    def _try_dispatch(self, conn: _Conn) -> None:
        end = _head_end(conn.buf)
        if end < 0 or end > MAX_HEADER_BYTES:
            if len(conn.buf) > MAX_HEADER_BYTES:
                self._count("headers_too_large")
                self._refuse(conn, b"431 Request Header Fields Too Large")
            return
        self._conns.pop(conn.sock, None)
        self._sel.unregister(conn.sock)
        with self._busy_lock:
            self._busy += 1
        try:
            self._work.put_nowait((conn.sock, bytes(conn.buf[:end]), bytes(conn.buf[end:])))
        except queue.Full:
            with self._busy_lock:
                self._busy -= 1
            self._count("overloaded")
            self._refuse(conn, b"503 Service Unavailable")

    def _refuse(self, conn: _Conn, status: bytes) -> None:
        body = status[4:] + b"\n"
        response = (
            b"HTTP/1.1 "
            + status
            + b"\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\nConnection: close\r\n\r\n"
            + body
        )
        try:
            conn.sock.send(response)  # best effort, without blocking the loop
        except (OSError, ValueError):
            self._close(conn)
            return
        # Closing with unread bytes would reset the connection and could destroy the response before
        # the client reads it: drain briefly (DRAIN_SECONDS, DRAIN_BYTES), then close.
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_WR)  # the client sees the end of the response
        conn.stage = "drain"
        conn.deadline = time.monotonic() + DRAIN_SECONDS
        conn.reason = None
        conn.buf = bytearray()
        if conn.sock not in self._conns:  # handed over and given back (503)
            self._conns[conn.sock] = conn
            self._sel.register(conn.sock, selectors.EVENT_READ, conn)

    # --- workers -----------------------------------------------------------------------------------

    def _worker(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            sock, head, rest = item
            keep = False
            try:
                sock.settimeout(WRITE_TIMEOUT_SECONDS)
                try:
                    peer = sock.getpeername()
                except OSError:
                    peer = ("", 0)
                handler = self._handler(sock, peer, self._httpd, head=head)  # type: ignore[call-arg]
                keep = not handler.close_connection and not self._stopping
            except MemoryError:
                fatal.out_of_memory("an HTTP worker")
            except Exception:
                log.debug("request failed", exc_info=True)
            finally:
                with self._busy_lock:
                    self._busy -= 1
            if keep:
                try:
                    sock.setblocking(False)
                except OSError:
                    keep = False
            if keep:
                self._returned.append((sock, rest))
                self._wake()
            else:
                sock.close()


def _head_end(buf: bytearray) -> int:
    """Index just past the blank line ending a request head, or -1 (http.server accepts bare LF too)."""
    ends = [i + n for i, n in ((buf.find(b"\r\n\r\n"), 4), (buf.find(b"\n\n"), 2)) if i >= 0]
    return min(ends) if ends else -1


def accepts_gzip(header: str) -> bool:
    """True when Accept-Encoding allows gzip: listed (or `*`) with a q-value above 0 (RFC 9110 12.5.3)."""
    quality: dict[str, float] = {}
    for item in header.split(","):
        coding, *params = (p.strip() for p in item.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if coding:
            quality[coding.lower()] = q
    return quality.get("gzip", quality.get("x-gzip", quality.get("*", 0.0))) > 0


def _make_handler(
    exposition: Exposition,
    readiness: Callable[[], list[str]],
    authorize: Callable[[str | None], bool] | None,
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # The exporter's version, not the interpreter's (version_string below).
        server_version = f"extend-exporter/{__version__}"
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def __init__(
            self, request: socket.socket, client_address: object, server: object, *, head: bytes
        ) -> None:
            self._head = head
            super().__init__(request, client_address, server)  # type: ignore[arg-type]

        def setup(self) -> None:
            super().setup()
            # The loop has read the whole request head; the body (if any) is refused below.
            self.rfile.close()
            self.rfile = io.BytesIO(self._head)

        def handle(self) -> None:
            # One request per hand-off: between requests the connection waits in the loop, not here.
            self.close_connection = True
            self.handle_one_request()

        def version_string(self) -> str:
            return self.server_version

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s %s", self.address_string(), format % args)

        def parse_request(self) -> bool:
            if not super().parse_request():
                return False
            # No bodies: one would otherwise be parsed as the next request (smuggling behind a proxy).
            if "Transfer-Encoding" in self.headers:
                self.send_error(400, "Transfer-Encoding is not accepted")
                return False
            length = self.headers.get("Content-Length", "0").strip()
            if length != "0":
                self.send_error(413 if length.isdigit() else 400, "Request bodies are not accepted")
                return False
            return True

        def _send(
            self, code: int, body: bytes, content_type: str, extra: dict[str, str] | None = None
        ) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            # end_headers() would send the headers in a write of their own and the body in a second
            # one; with Nagle's algorithm and the client's delayed ACK that stalled scrapes ~200 ms.
            # One write, and TCP_NODELAY (disable_nagle_algorithm) for the rest.
            pending: list[bytes] = self._headers_buffer  # type: ignore[attr-defined]  # stdlib, since 3.3
            pending.append(b"\r\n")
            if self.command != "HEAD":
                pending.append(body)
            self.flush_headers()

        def do_HEAD(self) -> None:
            self.do_GET()

        def _authorized(self) -> bool:
            return authorize is None or authorize(self.headers.get("Authorization"))

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path not in PROBE_PATHS and not self._authorized():
                self._send(
                    401,
                    b"Unauthorized\n",
                    "text/plain; charset=utf-8",
                    {"WWW-Authenticate": 'Basic realm="extend-exporter"'},
                )
                return
            if path == "/metrics":
                rendered = exposition.current
                if accepts_gzip(self.headers.get("Accept-Encoding", "")):
                    self._send(
                        200,
                        rendered.gzipped,
                        CONTENT_TYPE_LATEST,
                        {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
                    )
                else:
                    self._send(200, rendered.text, CONTENT_TYPE_LATEST, {"Vary": "Accept-Encoding"})
            elif path == "/healthz":
                self._send(200, b"ok\n", "text/plain; charset=utf-8")
            elif path == "/readyz":
                problems = readiness()
                if problems:
                    detail = "".join(f"{p}\n" for p in problems) if self._authorized() else ""
                    self._send(503, f"not ready\n{detail}".encode(), "text/plain; charset=utf-8")
                else:
                    self._send(200, b"ready\n", "text/plain; charset=utf-8")
            elif path == "/":
                self._send(200, LANDING.format(version=__version__).encode(), "text/html; charset=utf-8")
            else:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")

    return Handler
