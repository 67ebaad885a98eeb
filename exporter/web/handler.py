"""The base of the servers' request handlers: one request whose head the connection loop has read.

http.server's BaseHTTPRequestHandler parses the head (from memory: the loop already read it) and the
subclass answers; `rest` holds what the loop read past the head (a request body, where the server
takes one). One request per hand-off: between requests a kept-alive connection waits in the loop.
"""

from __future__ import annotations

import io
import logging
import socket
from http.server import BaseHTTPRequestHandler

from .. import __version__

# The HTTP server's lines keep the logger name they have always had.
log = logging.getLogger("exporter.server")

TEXT = "text/plain; charset=utf-8"


class OneRequestHandler(BaseHTTPRequestHandler):
    # The exporter's version, not the interpreter's (version_string below).
    server_version = f"extend-exporter/{__version__}"
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def __init__(
        self,
        request: socket.socket,
        client_address: object,
        server: object,
        *,
        head: bytes,
        rest: bytes = b"",
    ) -> None:
        self._head = head
        self.rest = rest
        super().__init__(request, client_address, server)  # type: ignore[arg-type]

    def setup(self) -> None:
        super().setup()
        # The loop has read the whole request head (and, where the server takes one, the body: `rest`).
        self.rfile.close()
        self.rfile = io.BytesIO(self._head)

    def handle(self) -> None:
        self.close_connection = True
        self.handle_one_request()

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _send(self, code: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
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
