"""The HTTP server: a connection loop (connections.py) and a small fixed pool of worker threads that
answer complete requests and give kept-alive connections back to the loop. `HttpServer` is that
machinery, `MetricsServer` the exporter's server answering from endpoints.py; the webhook listener
(webhooks/listener.py) is another `HttpServer`, on a port of its own.

What a client can hold is bounded (docs/http.md): slow or silent clients cost the loop a file
descriptor each, never a thread, and the thread count is fixed (workers + 1). TLS, when configured,
covers every path.

Why the stdlib and not a server library: the exporter needs one small loop with four deadlines; the
candidates (waitress, cheroot, gunicorn) either bound connections with threads per connection again or
bring a WSGI stack and a process model the single-process exporter does not want.
"""

from __future__ import annotations

import logging
import queue
import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import Counter

from .. import fatal
from ..metrics.collector import Exposition
from .connections import ConnectionLoop, Limits
from .endpoints import Endpoints, accepts_gzip, make_handler

__all__ = ["DRAIN", "WORKERS", "HttpServer", "Limits", "MetricsServer", "accepts_gzip"]

log = logging.getLogger("exporter.server")  # the name log lines carried before the module moved

# A thread that wants the GIL waits up to the switch interval (5 ms by default) for a running thread to
# hand it over, and answering a scrape needs it back several times (after accept, recv, send). While a
# sync parses pages, that made the scrape tail: at 10k series with a sync running (bench/scrape.py,
# median of 3 runs) gzip p99 was 21 ms at 5 ms, 8-16 ms at 0.2-1 ms, alike within the noise. A forced
# switch happens only when a thread waits, so an idle exporter pays nothing for it.
SWITCH_INTERVAL_SECONDS = 0.0005
# Workers answer complete requests from the cache: a scrape takes about a millisecond, so a handful
# serves many scrapers; they only wait on slow readers of the response (bounded by WRITE_TIMEOUT).
WORKERS = 8
# Requests waiting for a worker beyond this are answered 503 at once rather than queued for long.
MAX_QUEUED = 64
# Sending one response (a large /metrics to a client that does not read) may take this long in total.
WRITE_TIMEOUT_SECONDS = 10.0
# `HttpServer.answer` returns this for a refusal sent with request bytes left unread (ConnectionLoop.drain).
DRAIN = "drain"


class _Server(ThreadingHTTPServer):
    # Binds and listens only (and keeps wrap_socket's interface); MetricsServer runs the loop.
    # socketserver's default listen backlog is 5: a burst of scrapers overflowed it, and each dropped
    # SYN cost its client a 200 ms (then 400 ms) retransmission -- the whole p99 of the benchmark.
    # 1024 (capped by net.core.somaxconn): under a flood of connections a full accept queue drops
    # handshakes, and their clients then wait seconds for SYN-ACK retransmissions; the loop accepts
    # (and makes room) quickly, so a longer queue costs only kernel memory.
    request_queue_size = 1024


class HttpServer:
    """Binds, runs the loop and the workers; a subclass says what a request is answered (`answer`)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        name: str,
        wrap_socket: Callable[[ThreadingHTTPServer], None] | None = None,
        limits: Limits | None = None,
        rejected: Counter | None = None,
        workers: int = WORKERS,
    ) -> None:
        self._httpd = _Server((host, port), BaseHTTPRequestHandler, bind_and_activate=True)
        if wrap_socket is not None:
            wrap_socket(self._httpd)
        self._work: queue.Queue[tuple[socket.socket, bytes, bytes] | None] = queue.Queue(MAX_QUEUED)
        self._loop = ConnectionLoop(self._httpd.socket, limits or Limits(), self._queue, rejected)
        self._thread = threading.Thread(target=self._loop.run, name=name, daemon=True)
        self._workers = [
            threading.Thread(target=self._worker, name=f"{name}-worker-{i}", daemon=True)
            for i in range(workers)
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
        self._loop.stop()
        if self._thread.is_alive():
            self._thread.join(5)
        for _ in self._workers:
            try:
                self._work.put_nowait(None)
            except queue.Full:
                break
        self._httpd.server_close()

    def answer(
        self, sock: socket.socket, peer: tuple[str, int], head: bytes, rest: bytes
    ) -> bytes | str | None:
        """Answer one request (`rest`: what was read past its head). Returns the bytes read past the
        request to keep the connection alive with, None to close it, or DRAIN."""
        raise NotImplementedError

    def _queue(self, sock: socket.socket, head: bytes, rest: bytes) -> bool:
        try:
            self._work.put_nowait((sock, head, rest))
        except queue.Full:
            return False
        return True

    def _worker(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            sock, head, rest = item
            after: bytes | str | None = None
            try:
                sock.settimeout(WRITE_TIMEOUT_SECONDS)
                try:
                    peer = sock.getpeername()
                except OSError:
                    peer = ("", 0)
                after = self.answer(sock, peer, head, rest)
                if self._loop.stopping and after != DRAIN:
                    after = None
            except MemoryError:
                fatal.out_of_memory("an HTTP worker")
            except Exception:
                log.debug("request failed", exc_info=True)
            finally:
                self._loop.finished()
            if isinstance(after, bytes):
                try:
                    sock.setblocking(False)
                except OSError:
                    after = None
            if isinstance(after, bytes):
                self._loop.give_back(sock, after)
            elif after == DRAIN:
                self._loop.drain(sock)
            else:
                sock.close()


class MetricsServer(HttpServer):
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
        self._handler = make_handler(Endpoints(exposition, readiness, authorize))
        super().__init__(host, port, name="http", wrap_socket=wrap_socket, limits=limits, rejected=rejected)

    def answer(self, sock: socket.socket, peer: tuple[str, int], head: bytes, rest: bytes) -> bytes | None:
        handler = self._handler(sock, peer, self._httpd, head=head)
        return None if handler.close_connection else rest
