"""Hostile HTTP clients for the server-bounds tests and the image test (stdlib only, loopback).

    python -m tests.reliability.abuse half-open HOST PORT --connections 3000 --seconds 30
    python -m tests.reliability.abuse big-headers HOST PORT --connections 40 --seconds 10
    python -m tests.reliability.abuse slow-body HOST PORT --connections 500 --seconds 30

`half-open` keeps N connections open that send a request line and then one header line a second,
never finishing the head (with --tls-silent they never start the TLS handshake either); a connection
the server closes is replaced (at most --reconnect-per-second). `big-headers` sends ~6 MB of header
lines per connection and then stalls. `slow-body` sends a complete webhook POST head announcing a
100 kB body, then 16 bytes of it a second (replaced when closed, like half-open). One thread and a
selector: the clients cost the test little CPU. Prints one JSON line: how many connections were
opened, how many the server closed, and the longest time the server let one live.
"""

from __future__ import annotations

import argparse
import errno
import json
import resource
import selectors
import socket
import time
from dataclasses import dataclass, field


@dataclass(eq=False)
class _Client:
    sock: socket.socket
    opened: float
    pending: bytes = b""
    sent: int = 0
    connected: bool = False


@dataclass
class Report:
    opened: int = 0
    closed_by_server: int = 0
    longest_life: float = 0.0
    lives: list[float] = field(default_factory=list)

    def as_json(self) -> str:
        return json.dumps(
            {
                "opened": self.opened,
                "closed_by_server": self.closed_by_server,
                "longest_life": self.longest_life,
            }
        )


def raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


def _open(host: str, port: int, sel: selectors.BaseSelector, first: bytes) -> _Client | None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    err = sock.connect_ex((host, port))
    if err not in (0, errno.EINPROGRESS):
        sock.close()
        return None
    client = _Client(sock, time.monotonic(), pending=first)
    sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)
    return client


def run(
    mode: str,
    host: str,
    port: int,
    connections: int,
    seconds: float,
    *,
    tls_silent: bool = False,
    reconnect_per_second: float = 200.0,
    header_bytes: int = 6_000_000,
) -> Report:
    raise_fd_limit(connections + 256)
    sel = selectors.DefaultSelector()
    report = Report()
    clients: set[_Client] = set()
    trickle = b"X-Trickle: 1\r\n"
    if mode == "half-open":
        first = b"" if tls_silent else b"GET /metrics HTTP/1.1\r\nHost: x\r\n"
    elif mode == "slow-body":
        first = b"POST /webhooks/extend HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
        trickle = b"x" * 16
    else:
        line = b"X-Filler: " + b"a" * 65_000 + b"\r\n"
        first = b"GET / HTTP/1.1\r\n" + line * (header_bytes // len(line))
    started = time.monotonic()
    end = started + seconds
    budget = float(connections)  # reconnection tokens
    last_refill = started
    next_trickle = started + 1.0

    def fill() -> None:
        nonlocal budget
        while len(clients) < connections and budget >= 1:
            budget -= 1
            client = _open(host, port, sel, first)
            if client is None:
                return
            clients.add(client)
            report.opened += 1

    def drop(client: _Client, by_server: bool) -> None:
        clients.discard(client)
        sel.unregister(client.sock)
        client.sock.close()
        if by_server:
            life = time.monotonic() - client.opened
            report.closed_by_server += 1
            report.longest_life = max(report.longest_life, life)

    fill()
    while (now := time.monotonic()) < end:
        budget = min(float(connections), budget + (now - last_refill) * reconnect_per_second)
        last_refill = now
        if mode != "big-headers":
            fill()
        if mode != "big-headers" and not tls_silent and now >= next_trickle:
            next_trickle = now + 1.0
            for client in clients:
                client.pending += trickle
                if client.connected:
                    sel.modify(client.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)
        for key, events in sel.select(timeout=0.2):
            client = key.data
            if events & selectors.EVENT_READ:
                try:
                    data = client.sock.recv(65536)
                except (ConnectionError, OSError):
                    data = b""
                if not data:
                    drop(client, by_server=True)
                    continue
            if events & selectors.EVENT_WRITE:
                if not client.connected:
                    client.connected = True
                    client.opened = time.monotonic()  # lives are measured from the handshake
                if client.pending:
                    try:
                        n = client.sock.send(client.pending[:262_144])
                    except BlockingIOError:
                        n = 0
                    except OSError:
                        drop(client, by_server=True)
                        continue
                    client.pending = client.pending[n:]
                    client.sent += n
                if not client.pending:
                    sel.modify(client.sock, selectors.EVENT_READ, client)
    for client in list(clients):
        drop(client, by_server=False)
    sel.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["half-open", "big-headers", "slow-body"])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--connections", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--tls-silent", action="store_true")
    args = parser.parse_args()
    report = run(args.mode, args.host, args.port, args.connections, args.seconds, tls_silent=args.tls_silent)
    print(report.as_json(), flush=True)


if __name__ == "__main__":
    main()
