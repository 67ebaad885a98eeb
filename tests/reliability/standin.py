"""A small stand-in for the Extend API that misbehaves on purpose: drips, oversized pages, gzip bombs,
endless page tokens, long Retry-After holds. Loopback only; the behaviour is switched by the test."""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

MODES = ("ok", "drip", "big", "big_chunked", "bomb", "endless", "hold")


def run_summary(i: int) -> dict[str, Any]:
    stamp = "2026-01-01T00:00:00.000Z"
    return {
        "object": "workflow_run",
        "id": f"workflow_run_{i:012d}",
        "status": "PROCESSED",
        "createdAt": stamp,
        "updatedAt": stamp,
        "workflow": {"id": "workflow_abc", "name": "Invoices"},
    }


def _bomb(inflated: int) -> bytes:
    """A gzip body of `inflated` zero bytes (about 1/1000 of that on the wire)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [comp.compress(block) for _ in range(inflated >> 20)]
    parts.append(comp.flush())
    return b"".join(parts)


class StandIn:
    def __init__(self, *, big_runs: int = 100_000, bomb_bytes: int = 256 << 20) -> None:
        self.mode = "ok"
        self.retry_after = 3600
        self.requests = 0
        self.times: list[float] = []  # time.monotonic() of every request
        self.in_drip = threading.Event()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._big = orjson.dumps({"data": [run_summary(i) for i in range(big_runs)], "nextPageToken": None})
        self._bomb = _bomb(bomb_bytes)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with outer._lock:
                    outer.requests += 1
                    outer.times.append(time.monotonic())
                outer.handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: bytes, **headers: str) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        for name, value in headers.items():
            h.send_header(name.replace("_", "-"), value)
        if "Content_Length" not in headers:
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        mode = self.mode
        if mode == "drip":
            body = orjson.dumps({"data": [run_summary(0)], "nextPageToken": None}) * 4
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.flush()
            self.in_drip.set()
            for b in body:  # one byte a second: every read is quick, the whole takes minutes
                if self._stopping.wait(1.0):
                    return
                try:
                    h.wfile.write(bytes([b]))
                    h.wfile.flush()
                except OSError:
                    return
            return
        if mode == "big":
            self._send(h, 200, self._big)
        elif mode == "big_chunked":  # no Content-Length: only counting while reading can stop it
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Connection", "close")
            h.end_headers()
            try:
                for i in range(0, len(self._big), 1 << 16):
                    h.wfile.write(self._big[i : i + (1 << 16)])
            except OSError:
                pass
            h.close_connection = True
        elif mode == "bomb":
            self._send(h, 200, self._bomb, Content_Encoding="gzip")
        elif mode == "endless":
            with self._lock:
                n = self.requests
            page = {"data": [run_summary(n)], "nextPageToken": f"token-{n}"}
            self._send(h, 200, orjson.dumps(page))
        elif mode == "hold":
            self._send(h, 429, b'{"code":"RATE_LIMITED"}', Retry_After=str(self.retry_after))
        else:
            self._send(h, 200, orjson.dumps({"data": [run_summary(0)], "nextPageToken": None}))


@contextmanager
def standin(**kwargs: Any) -> Iterator[StandIn]:
    server = StandIn(**kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop()
