"""The HTTP connection to Extend that every workspace's client shares: one connection pool, one
deadline per request, a cap on response size, and the requests in flight (cut at shutdown).

Knows nothing about pages or retries (client.py). Never puts the API key into an exception, a log
line or a metric: the caller's headers carry it, and no error message names a header.
"""

from __future__ import annotations

import email.utils
import itertools
import socket
import ssl
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from .. import __version__
from ..metrics.telemetry import Telemetry

USER_AGENT = f"extend-exporter/{__version__} (+https://github.com/extend-exporter)"
MAX_RETRY_AFTER_SECONDS = 300.0
# Response bodies are capped at RESPONSE_BYTES_BASE + maxPageSize x the per-run allowance, counted both
# on the wire and after decompression, so an oversized page or a gzip bomb fails cleanly instead of
# exhausting memory. A run summary is ~0.4-2 KiB; the default allowance leaves room for large ones.
DEFAULT_MAX_RESPONSE_BYTES_PER_RUN = 8192
RESPONSE_BYTES_BASE = 64 * 1024
_NON_RETRYABLE = {401: "unauthorized", 402: "payment_required", 403: "forbidden"}


class ApiError(Exception):
    """A request that failed for good. `reason` is a fixed, low-cardinality word."""

    def __init__(self, reason: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


class Cancelled(Exception):
    """The exporter is shutting down; the request was abandoned."""


class _InFlight:
    """Requests being sent or read, for the in-flight gauges; sockets, so shutdown can cut them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started: dict[int, float] = {}
        self._ids = itertools.count()
        self.sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()

    def begin(self) -> int:
        with self._lock:
            token = next(self._ids)
            self._started[token] = time.monotonic()
            return token

    def end(self, token: int) -> None:
        with self._lock:
            self._started.pop(token, None)

    def count(self) -> int:
        with self._lock:
            return len(self._started)

    def oldest_age(self) -> float:
        with self._lock:
            oldest = min(self._started.values(), default=None)
        return 0.0 if oldest is None else time.monotonic() - oldest

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        """httpcore trace hook: remember every socket this client opens (plain or TLS)."""
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                with self._lock:
                    self.sockets.add(sock)

    def cut(self) -> None:
        """Shut every open socket down: a read blocked on one returns at once."""
        with self._lock:
            sockets = list(self.sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                continue


class Session:
    """One httpx client for every workspace: requests differ only in their headers."""

    def __init__(
        self,
        base_url: str,
        telemetry: Telemetry,
        *,
        timeout: float = 30.0,
        stop: threading.Event | None = None,
        transport: httpx.BaseTransport | None = None,
        max_response_bytes_per_run: int = DEFAULT_MAX_RESPONSE_BYTES_PER_RUN,
        max_retry_after: float = MAX_RETRY_AFTER_SECONDS,
    ) -> None:
        self._timeout = timeout
        self._bytes_per_run = max_response_bytes_per_run
        self._max_retry_after = max_retry_after
        self._telemetry = telemetry
        self.stop = stop or threading.Event()
        self._in_flight = _InFlight()
        telemetry.api_requests_in_flight.set_function(self._in_flight.count)
        telemetry.api_oldest_request_age.set_function(self._in_flight.oldest_age)
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            # Only encodings decoded here under the size cap (see _read_body).
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", "Accept-Encoding": "gzip"},
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def abort(self) -> None:
        """Cut requests in flight (at shutdown): their syncs end with Cancelled instead of waiting."""
        self.stop.set()
        self._in_flight.cut()

    def _response_cap(self, params: Mapping[str, str | int]) -> int:
        return RESPONSE_BYTES_BASE + max(1, int(params.get("maxPageSize", 1))) * self._bytes_per_run

    def send(
        self,
        endpoint: str,
        params: Mapping[str, str | int],
        headers: Mapping[str, str],
        answered: Callable[[str], None],
        *,
        path: str | None = None,
    ) -> Body:
        """One request under one deadline for all of it (connect, headers, body): the status and body.
        `path` is the URL path when it is not `endpoint` itself (an object by ID; `endpoint` then is its
        template, the label the request is measured under).

        Each socket read is bounded by the timeout and the deadline is checked after every chunk, so
        a server that drips its body is cut within about twice the timeout in all.
        """
        started = time.perf_counter()
        deadline = time.monotonic() + self._timeout
        code = "error"
        token = self._in_flight.begin()
        try:
            with self._http.stream(
                "GET",
                path or endpoint,
                params=dict(params),
                headers=dict(headers),
                extensions={"trace": self._in_flight.trace},
            ) as response:
                code = str(response.status_code)
                body = self._read_body(response, self._response_cap(params), deadline)
        except _DeadlineExceeded:
            code = "timeout"
            raise Retryable("timeout", f"no complete answer within {self._timeout:g}s") from None
        except httpx.TimeoutException:
            code = "timeout"
            raise Retryable("timeout", f"no complete answer within {self._timeout:g}s") from None
        except httpx.TransportError as exc:
            if self.stop.is_set():
                raise Cancelled() from None
            raise Retryable("transport_error", transport_cause(exc)) from None
        finally:
            self._in_flight.end(token)
            answered(code)
            self._telemetry.api_request_duration.labels(endpoint).observe(time.perf_counter() - started)
        status = response.status_code
        if status == 200:
            return body
        detail = _error_code(body.content)
        if status == 429:
            raise Retryable(
                "rate_limited", f"HTTP 429{detail}", status, _retry_after(response, self._max_retry_after)
            )
        if status >= 500 or status == 408:
            raise Retryable(
                "server_error",
                f"HTTP {status}{detail}",
                status,
                _retry_after(response, self._max_retry_after),
            )
        reason = _NON_RETRYABLE.get(status, "client_error")
        raise ApiError(reason, f"{endpoint}: HTTP {status}{detail}", status)

    def _read_body(self, response: httpx.Response, cap: int, deadline: float) -> Body:
        """The body, decoded here under `cap` bytes both raw and decoded, before `deadline`."""
        too_big = ApiError("bad_response", f"{response.url.path}: response larger than {cap} bytes")
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > cap:
            raise too_big
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        decoder: Any = None
        if encoding == "gzip":
            decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            decoder = zlib.decompressobj()
        elif encoding not in ("", "identity"):
            raise Retryable("bad_response", f"unsupported Content-Encoding {encoding[:20]!r}")
        chunks: Iterable[bytes] = response.iter_raw()  # as the socket gives it: a drip is seen per read
        if response.is_stream_consumed:  # a transport that answers from memory (tests, benchmarks)
            chunks, decoder = [response.content], None
        raw_total = 0
        out = bytearray()
        try:
            for chunk in chunks:
                if self.stop.is_set():
                    raise Cancelled()
                if time.monotonic() > deadline:
                    raise _DeadlineExceeded()
                raw_total += len(chunk)
                if raw_total > cap:
                    raise too_big
                if decoder is None:
                    out += chunk
                else:
                    # max_length bounds what one chunk may inflate to: a bomb stops at cap + 1 bytes.
                    out += decoder.decompress(chunk, cap - len(out) + 1)
                    if decoder.unconsumed_tail:
                        raise too_big
                if len(out) > cap:
                    raise too_big
            if decoder is not None:
                out += decoder.flush()
        except zlib.error:
            raise Retryable("bad_response", f"body is not valid {encoding}") from None
        if len(out) > cap:
            raise too_big
        if time.monotonic() > deadline:
            raise _DeadlineExceeded()
        return Body(bytes(out))


@dataclass(frozen=True)
class Body:
    """A response body, read in full under the size cap."""

    content: bytes


class _DeadlineExceeded(Exception):
    pass


class Retryable(Exception):
    """A failed request worth another try (429, 5xx, transport errors, malformed bodies)."""

    def __init__(
        self, reason: str, message: str, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


def transport_cause(exc: httpx.TransportError) -> str:
    """What went wrong below HTTP, in words a user can act on (never the request or its headers)."""
    causes: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(causes) < 10:
        causes.append(seen)
        seen = seen.__cause__ or seen.__context__
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted ({cause.verify_message})"
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed ({cause.reason or type(cause).__name__}; is the scheme right?)"
        if isinstance(cause, socket.gaierror):
            return "DNS lookup failed (unknown host name)"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused (nothing listens there)"
    text = str(exc).lower()
    if "name or service not known" in text or "nodename nor servname" in text or "name resolution" in text:
        return "DNS lookup failed (unknown host name)"
    if "connection refused" in text:
        return "connection refused (nothing listens there)"
    if "certificate verify failed" in text:
        return "TLS certificate not trusted"
    if "ssl" in text or "tls" in text:
        return "TLS handshake failed (is the URL's scheme right?)"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    return type(exc).__name__


def _retry_after(response: httpx.Response, cap: float = MAX_RETRY_AFTER_SECONDS) -> float | None:
    """Seconds from `Retry-After` (delta seconds or an HTTP date), capped; None when absent."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    seconds: float | None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError):
            seconds = None
    if seconds is None:
        return None
    return min(max(seconds, 0.0), cap)


def _error_code(content: bytes) -> str:
    """The API's machine-readable error code, if the body has one (never free text)."""
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return ""
    code = body.get("code") if isinstance(body, dict) else None
    if isinstance(code, str) and code.replace("_", "").isalnum() and len(code) <= 40:
        return f" {code}"
    return ""
