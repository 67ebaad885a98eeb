"""The HTTP server: /metrics (cached exposition), /healthz, /readyz and a landing page.

With basic auth configured (web config), /metrics and the landing page need credentials; /healthz and
/readyz do not, so liveness and readiness probes (kubelet, the image's HEALTHCHECK) work without a
password in the pod spec. They reveal nothing but up/ready: /readyz lists its reasons only to
authorised callers. TLS, when configured, covers every path.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client.exposition import CONTENT_TYPE_LATEST

from . import __version__
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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default listen backlog is 5: a burst of scrapers overflowed it, and each dropped
    # SYN cost its client a 200 ms (then 400 ms) retransmission -- the whole p99 of the benchmark.
    request_queue_size = 128

    def handle_error(self, request: object, client_address: object) -> None:
        # A client speaking plain HTTP to the TLS port, a failed handshake or a reset: the client's
        # problem. socketserver would print a traceback to stderr, past the log format and redaction.
        log.debug("connection from %s failed", client_address, exc_info=True)


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
    ) -> None:
        handler = _make_handler(exposition, readiness, authorize)
        self._httpd = _Server((host, port), handler)
        if wrap_socket is not None:
            wrap_socket(self._httpd)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> None:
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _make_handler(
    exposition: Exposition,
    readiness: Callable[[], list[str]],
    authorize: Callable[[str | None], bool] | None,
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = f"extend-exporter/{__version__}"
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        # A client that connects and goes quiet (or an idle keep-alive) must not hold a thread forever.
        timeout = 120

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s %s", self.address_string(), format % args)

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
                if "gzip" in self.headers.get("Accept-Encoding", ""):
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
