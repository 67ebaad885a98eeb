"""The HTTP server: stdlib ThreadingHTTPServer (HTTP/1.1 keep-alive) around ``api.Api``."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from .response import Response


class Handler(Protocol):
    """What the server hands requests to: a workspace's ``api.Api``, or an ``Organisation``."""

    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes = b""
    ) -> Response: ...


class SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], api: Handler) -> None:
        self.api = api
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_all_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
            self._conns.clear()
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                c.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: SimHTTPServer
    server_version = "extend-sim/1.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # silence
        return

    def _serve(self, method: str) -> None:
        path, _, query = self.path.partition("?")
        headers = {k.lower(): v for k, v in self.headers.items()}
        body = b""
        length = int(headers.get("content-length", "0") or 0)
        if length > 0:
            body = self.rfile.read(length)
        try:
            resp = self.server.api.handle(method, path, query, headers, body)
        except Exception as exc:  # a bug in the simulator must not kill the connection silently
            import traceback

            traceback.print_exc()
            resp = Response(500, f'{{"error":"simulator bug: {type(exc).__name__}"}}'.encode())
        self._write(resp)

    def _write(self, resp: Response) -> None:
        if resp.delay > 0:
            time.sleep(resp.delay)
        if resp.action == "reset":
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass
            return
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        for k, v in resp.headers:
            self.send_header(k, v)
        if resp.action == "short_read":
            self.send_header("Connection", "close")
        self.end_headers()
        if resp.action == "short_read":
            self.wfile.write(resp.body[: len(resp.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(resp.body)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")


class ServerThread:
    def __init__(self, api: Handler, host: str, port: int) -> None:
        self.httpd = SimHTTPServer((host, port), api)
        self.host, self.port = str(self.httpd.server_address[0]), int(self.httpd.server_address[1])
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="sim-http", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.httpd.close_all_connections()
        self._thread.join(timeout=5)
