"""The webhook listener: `POST /webhooks/extend` on a port of its own, hardened like /metrics' server.

A port of its own because deliveries come from the internet while /metrics stays inside. It is the
same server (web/server.py: one connection loop, a few workers, the same head deadline, idle timeout
and connection cap); here the loop also reads each body, at most MAX_BODY_BYTES (1 MiB), within
EXTEND_EXPORTER_WEBHOOK_BODY_TIMEOUT_SECONDS, before a worker sees the request, so a slow sender costs
a file descriptor, never a worker. A longer body is answered 413 unread. TLS comes from a web config
file of its own (EXTEND_EXPORTER_WEBHOOK_WEB_CONFIG_FILE, `tls_server_config`); `basic_auth_users` is
refused there, the signature is what authenticates a delivery. The answer goes out before any sync
runs: the receiver only asks for one (receiver.py, hints.py).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import ClassVar

from prometheus_client import Counter

from ..web.handler import TEXT, OneRequestHandler
from ..web.server import DRAIN, HttpServer, Limits
from .receiver import MAX_BODY_BYTES, Answer, Receiver
from .verify import SIGNATURE_HEADER, TIMESTAMP_HEADER

PATH = "/webhooks/extend"
# Answering a delivery takes well under a millisecond (an HMAC and a JSON parse of at most 1 MiB).
WORKERS = 4


class WebhookHandler(OneRequestHandler):
    receiver: ClassVar[Receiver]  # set on the subclass handler_for returns
    after: bytes | str | None = None  # what the server does with the connection next

    def handle_expect_100(self) -> bool:
        return True  # the connection loop answered `Expect: 100-continue` when it started the body

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != PATH:
            self._reply(404, b"not found\n", self._unread())
            return
        if "Transfer-Encoding" in self.headers:
            self._answer(self.receiver.malformed("send a Content-Length, not Transfer-Encoding"), drain=True)
            return
        lengths = self.headers.get_all("Content-Length") or ["0"]
        if len(lengths) != 1 or not lengths[0].strip().isdigit():
            self._answer(self.receiver.malformed("one numeric Content-Length is needed"), drain=True)
            return
        length = int(lengths[0])
        if length > MAX_BODY_BYTES:
            self._answer(self.receiver.too_large(length), drain=True)
            return
        if len(self.rest) < length:  # the loop reads the body first; anything else is not a request
            self._answer(self.receiver.malformed("the body is shorter than its Content-Length"), drain=True)
            return
        body, rest = self.rest[:length], self.rest[length:]
        answer = self.receiver.receive(
            self.headers.get(TIMESTAMP_HEADER), self.headers.get(SIGNATURE_HEADER), body
        )
        self._answer(answer, rest=rest)

    def do_GET(self) -> None:
        self._reply(405, b"method not allowed: deliveries are POSTed\n", self._unread(), {"Allow": "POST"})

    do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _unread(self) -> bool:
        """Whether the request announced bytes nobody will read."""
        return "Transfer-Encoding" in self.headers or self.headers.get("Content-Length", "0").strip() != "0"

    def _answer(self, answer: Answer, *, drain: bool = False, rest: bytes = b"") -> None:
        self._reply(answer.status, answer.text.encode(), drain, rest=rest)

    def _reply(
        self,
        code: int,
        body: bytes,
        drain: bool,
        extra: dict[str, str] | None = None,
        rest: bytes | None = None,
    ) -> None:
        if drain:
            self.close_connection = True
            extra = {**(extra or {}), "Connection": "close"}
        self._send(code, body, TEXT, extra)
        if drain:
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_WR)  # the client sees the end of the answer
            self.after = DRAIN
        elif not self.close_connection:
            self.after = rest if rest is not None else b""


def handler_for(receiver: Receiver) -> type[WebhookHandler]:
    class Handler(WebhookHandler):
        pass

    Handler.receiver = receiver
    return Handler


class WebhookServer(HttpServer):
    def __init__(
        self,
        host: str,
        port: int,
        receiver: Receiver,
        *,
        limits: Limits,
        wrap_socket: Callable[[ThreadingHTTPServer], None] | None = None,
        rejected: Counter | None = None,
    ) -> None:
        self._handler = handler_for(receiver)
        super().__init__(
            host,
            port,
            name="webhooks",
            wrap_socket=wrap_socket,
            limits=limits,
            rejected=rejected,
            workers=WORKERS,
        )

    def answer(
        self, sock: socket.socket, peer: tuple[str, int], head: bytes, rest: bytes
    ) -> bytes | str | None:
        handler = self._handler(sock, peer, self._httpd, head=head, rest=rest)
        return handler.after
