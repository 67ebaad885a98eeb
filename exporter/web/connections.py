"""The HTTP server's connection loop: accepts, TLS handshakes and request heads, under deadlines.

One thread runs a selector loop that accepts connections, does TLS handshakes and reads each request's
line and headers without blocking, under a deadline for the whole head (not per byte) and a cap on its
bytes; only a complete request head is handed off (to the server's workers), and a kept-alive
connection comes back here between requests. So slow or silent clients cost a file descriptor and at
most MAX_HEADER_BYTES each, never a thread. Past `max_connections` one connection waiting for its
request (or idle between requests) is closed to make room, chosen so that a flood of slow or silent
connections pushes out only its own kind, however slow the machine makes the rest of a real client's TLS
handshake: Prometheus and the kubelet send their request (or TLS hello) as soon as they connect, so they
have spoken or are the newest. First the oldest connection silent since its connect (SILENT_AFTER_SECONDS
or more); when every silent one is younger (a flood's first burst), the oldest silent one if the silent
are the most (a flood of silent clients, where the ones that spoke are real clients mid-handshake), else
the oldest of all (a flood of slow clients, which have spoken too and are older than a real client).

A server that takes request bodies (the webhook listener: `Limits.max_body_bytes`) has each body read
here too, under a deadline of its own, before the hand-off; the bytes all bodies being read hold at
once are capped (`Limits.max_buffered_body_bytes`), the oldest sender closed past it.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import re
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import Counter

from .. import fatal

# The HTTP server's lines keep the logger name they have always had.
log = logging.getLogger("exporter.server")

# nginx's default (large_client_header_buffers 4 8k) is 32 KiB; a scrape's head is a few hundred bytes.
MAX_HEADER_BYTES = 32 * 1024
# After a refusal (431, 503) the request's unread bytes are read and dropped for at most this long
# and this many bytes, so that closing does not reset the connection before the client reads why.
DRAIN_SECONDS = 1.0
DRAIN_BYTES = 256 * 1024
WARN_INTERVAL_SECONDS = 10.0
# A connection that has sent nothing this long after it was accepted counts as silent: past the cap those
# go first. A real client's first bytes (its request or TLS hello) follow its connect at once; bytes that
# arrived but the loop has not read yet (a loaded machine) count as sent.
SILENT_AFTER_SECONDS = 0.05

# Hands a complete request (socket, head, bytes after the head) to a worker; False when none can take it.
HandOff = Callable[[socket.socket, bytes, bytes], bool]


@dataclass(frozen=True)
class Limits:
    """What one client may hold; settable (config.py, EXTEND_EXPORTER_HTTP_*)."""

    header_timeout: float = 5.0
    idle_timeout: float = 30.0
    tls_handshake_timeout: float = 5.0
    max_connections: int = 256
    # Request bodies: 0 means none is read here (the handler refuses them); else the largest body read
    # before the hand-off (a longer one is handed off at once, for the handler to refuse), the time a
    # client has to send it after its head, and the bytes all bodies being read may hold together
    # (past it the oldest such connection is closed).
    max_body_bytes: int = 0
    body_timeout: float = 10.0
    max_buffered_body_bytes: int = 16 * 1024 * 1024
    silent_after: float = SILENT_AFTER_SECONDS


class _Conn:
    __slots__ = ("buf", "deadline", "drained", "heard", "need", "reason", "since", "sock", "stage")

    def __init__(self, sock: socket.socket, stage: str, deadline: float, reason: str | None) -> None:
        self.sock = sock
        # "handshake", "head" (reading a request), "body" (reading its body), "idle" (kept alive) or "drain"
        self.stage = stage
        self.drained = 0
        self.need = 0  # "body": bytes of head and body together
        self.deadline = deadline
        self.reason = reason  # counted when the deadline passes; None for an idle keep-alive
        self.buf = bytearray()
        self.since = time.monotonic()
        self.heard = stage in ("idle", "drain")  # has the client sent anything on this connection?


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


class ConnectionLoop:
    def __init__(
        self, listen: socket.socket, limits: Limits, hand_off: HandOff, rejected: Counter | None = None
    ) -> None:
        self._listen = listen
        self._tls = isinstance(listen, ssl.SSLSocket)
        listen.setblocking(False)
        self._limits = limits
        self._hand_off = hand_off
        self._rejected = rejected
        self._warning = _RateLimitedWarning()
        self._conns: dict[socket.socket, _Conn] = {}
        self._busy = 0  # connections handed off (queued or being answered)
        self._busy_lock = threading.Lock()
        self._returned: collections.deque[tuple[socket.socket, bytes | None]] = collections.deque()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.stopping = False
        self._body_bytes = 0  # bytes held by connections in the "body" stage
        self._sel = selectors.DefaultSelector()

    # --- what workers and the server call (from other threads) -------------------------------------

    def stop(self) -> None:
        self.stopping = True
        self._wake()

    def finished(self) -> None:
        """A handed-off connection is answered (given back or closed): it no longer counts as busy."""
        with self._busy_lock:
            self._busy -= 1

    def give_back(self, sock: socket.socket, rest: bytes) -> None:
        """A kept-alive connection waits here for its next request; `rest` is what was read past the
        last one."""
        self._returned.append((sock, rest))
        self._wake()

    def drain(self, sock: socket.socket) -> None:
        """A handler refused a request whose body it did not read: its response is sent and the socket
        shut for writing; the loop reads and drops what the client still sends (DRAIN_SECONDS,
        DRAIN_BYTES), then closes, so the client reads the refusal instead of a reset."""
        self._returned.append((sock, None))
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # a full pipe: the loop is awake anyway
            self._wake_w.send(b"x")

    # --- the loop -----------------------------------------------------------------------------------

    def _count(self, reason: str) -> None:
        if self._rejected is not None:
            self._rejected.labels(reason).inc()
        self._warning.note(reason)

    def run(self) -> None:
        self._sel.register(self._listen, selectors.EVENT_READ, None)
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while not self.stopping:
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
            if rest is None:
                drain = _Conn(sock, "drain", now + DRAIN_SECONDS, None)
                self._conns[sock] = drain
                self._sel.register(sock, selectors.EVENT_READ, drain)
                continue
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
        victim = self._victim()
        if victim is None:
            return False
        self._count("connection_limit")
        self._close(victim)
        return True

    def _victim(self) -> _Conn | None:
        """The connection to close past the cap (the module's docstring says which), None when there is
        none. Connections are kept in the order they were accepted; a silent one is checked at the
        socket too, since bytes may have arrived that the loop has not read yet (a loaded machine)."""
        silent = [c for c in self._conns.values() if not c.heard]
        grace_ends = time.monotonic() - self._limits.silent_after
        for conn in silent:
            if conn.since > grace_ends:
                break
            if _nothing_pending(conn.sock):
                return conn
        if 2 * len(silent) > len(self._conns):
            for conn in silent:
                if _nothing_pending(conn.sock):
                    return conn
        return min(self._conns.values(), key=lambda c: c.since, default=None)

    def _close(self, conn: _Conn) -> None:
        if self._conns.pop(conn.sock, None) is not None and conn.stage == "body":
            self._body_bytes -= len(conn.buf)
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
        conn.heard = True
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
        while len(conn.buf) < (limit := conn.need if conn.stage == "body" else MAX_HEADER_BYTES + 1):
            try:
                data = sock.recv(min(limit - len(conn.buf), 65536))
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            except (OSError, ValueError):
                data = b""
            if not data:
                self._close(conn)
                return
            self._start_head(conn, time.monotonic())
            conn.buf += data
            if conn.stage == "body":
                self._body_bytes += len(data)
                self._keep_bodies_in_budget(conn)
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
        if conn.stage == "body":
            if len(conn.buf) >= conn.need:
                self._body_bytes -= len(conn.buf)
                self._hand(conn)
            return
        end = _head_end(conn.buf)
        if end < 0 or end > MAX_HEADER_BYTES:
            if len(conn.buf) > MAX_HEADER_BYTES:
                self._count("headers_too_large")
                self._refuse(conn, b"431 Request Header Fields Too Large")
            return
        length = _content_length(conn.buf[:end]) if self._limits.max_body_bytes else None
        if length is not None and end + length > len(conn.buf) and length <= self._limits.max_body_bytes:
            self._start_body(conn, end, length)
            # The head's read may have stopped at its cap, not at an empty socket (TLS can hold
            # decrypted bytes the selector does not see): read on now.
            self._readable(conn)
            return
        self._hand(conn)

    def _start_body(self, conn: _Conn, end: int, length: int) -> None:
        conn.stage = "body"
        conn.need = end + length
        conn.deadline = time.monotonic() + self._limits.body_timeout
        conn.reason = "body_timeout"
        self._body_bytes += len(conn.buf)
        if _EXPECT_CONTINUE.search(bytes(conn.buf[:end])):
            with contextlib.suppress(OSError, ValueError, ssl.SSLError):
                conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")  # a few bytes: never blocks
        self._keep_bodies_in_budget(conn)

    def _keep_bodies_in_budget(self, reading: _Conn) -> None:
        """Past the budget of buffered body bytes, close the oldest connections still sending one."""
        while self._body_bytes > self._limits.max_buffered_body_bytes:
            others = [c for c in self._conns.values() if c.stage == "body" and c is not reading]
            if not others:
                return
            self._count("connection_limit")
            self._close(min(others, key=lambda c: c.since))

    def _hand(self, conn: _Conn) -> None:
        """Hand the request (head, and body when read here) to a worker: head up to the blank line,
        the rest after it."""
        end = _head_end(conn.buf)
        self._conns.pop(conn.sock, None)
        self._sel.unregister(conn.sock)
        with self._busy_lock:
            self._busy += 1
        if not self._hand_off(conn.sock, bytes(conn.buf[:end]), bytes(conn.buf[end:])):
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


_CONTENT_LENGTH = re.compile(rb"^content-length[ \t]*:[ \t]*(\d{1,12})[ \t]*\r?$", re.I | re.M)
_EXPECT_CONTINUE = re.compile(rb"^expect[ \t]*:[ \t]*100-continue[ \t]*\r?$", re.I | re.M)


def _nothing_pending(sock: socket.socket) -> bool:
    """No byte waits on the connection (a peek at the raw socket, under TLS too); a closed one counts."""
    try:
        return not socket.socket.recv(sock, 1, socket.MSG_PEEK)
    except (BlockingIOError, InterruptedError):
        return True
    except OSError:
        return True


def _content_length(head: bytearray) -> int | None:
    """The body length a request head announces; None when it announces none, or several, or sends
    Transfer-Encoding (the handler answers those without a body read here)."""
    if re.search(rb"^transfer-encoding[ \t]*:", head, re.I | re.M):
        return None
    found = _CONTENT_LENGTH.findall(head)
    return int(found[0]) if len(found) == 1 else None


def _head_end(buf: bytearray) -> int:
    """Index just past the blank line ending a request head, or -1 (http.server accepts bare LF too)."""
    ends = [i + n for i, n in ((buf.find(b"\r\n\r\n"), 4), (buf.find(b"\n\n"), 2)) if i >= 0]
    return min(ends) if ends else -1
