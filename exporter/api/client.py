"""HTTP client for the Extend list endpoints: headers, pages, retries, the shared request budget.

Knows nothing about counting. Never puts the API key into an exception, a log line or a metric.
"""

from __future__ import annotations

import email.utils
import itertools
import logging
import random
import socket
import ssl
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import orjson

from .. import __version__
from ..kinds import KindSpec
from ..metrics.telemetry import Telemetry
from .ratelimit import TokenBucket

log = logging.getLogger("exporter.api")  # the name log lines carried before the module moved

USER_AGENT = f"extend-exporter/{__version__} (+https://github.com/extend-exporter)"
MAX_RETRY_AFTER_SECONDS = 300.0
# Response bodies are capped at RESPONSE_BYTES_BASE + maxPageSize x the per-run allowance, counted both
# on the wire and after decompression, so an oversized page or a gzip bomb fails cleanly instead of
# exhausting memory. A run summary is ~0.4-2 KiB; the default allowance leaves room for large ones.
DEFAULT_MAX_RESPONSE_BYTES_PER_RUN = 8192
RESPONSE_BYTES_BASE = 64 * 1024
# A listing is read to at most this many runs (maxPageSize x pages): endless nextPageTokens fail the sync.
DEFAULT_MAX_RUNS_PER_LISTING = 1_000_000
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


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_token: str | None


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0


class ApiClient:
    def __init__(
        self,
        base_url: str,
        api_key: Callable[[], str],
        *,
        api_version: str,
        workspace_id: str | None,
        bucket: TokenBucket,
        telemetry: Telemetry,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        stop: threading.Event | None = None,
        transport: httpx.BaseTransport | None = None,
        max_response_bytes_per_run: int = DEFAULT_MAX_RESPONSE_BYTES_PER_RUN,
        max_runs_per_listing: int = DEFAULT_MAX_RUNS_PER_LISTING,
        max_retry_after: float = MAX_RETRY_AFTER_SECONDS,
        max_hold: float | None = None,
    ) -> None:
        self._api_key = api_key
        self._max_retry_after = max_retry_after
        # A Retry-After hold longer than this fails the request at once (rate_limited) instead of being
        # waited out inside a sync, so extend_up tells the truth during the hold; None: always wait.
        self._max_hold = max_hold
        self._timeout = timeout
        self._bytes_per_run = max_response_bytes_per_run
        self._max_runs_per_listing = max_runs_per_listing
        self._in_flight = _InFlight()
        telemetry.api_requests_in_flight.set_function(self._in_flight.count)
        telemetry.api_oldest_request_age.set_function(self._in_flight.oldest_age)
        self.api_version = api_version
        self._workspace_id = workspace_id
        self._bucket = bucket
        self._telemetry = telemetry
        self._retry = retry or RetryPolicy()
        self._stop = stop or threading.Event()
        self._random = random.Random()
        # Extend's rate limit is per key, not per endpoint: a Retry-After holds every request of this
        # client (all kinds, and the next sync too), not just the retry of the request that got it.
        self._hold_lock = threading.Lock()
        self._hold_until = 0.0  # time.monotonic() before which no request is sent
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
        self._stop.set()
        self._in_flight.cut()

    def _headers(self, api_version: str) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._api_key()}", "x-extend-api-version": api_version}
        if self._workspace_id:
            headers["x-extend-workspace-id"] = self._workspace_id
        return headers

    def list_page(self, spec: KindSpec, params: Mapping[str, str | int]) -> Page:
        """One page of a run list, retried on 429, 5xx, transport errors and malformed bodies."""
        version = spec.request_version(self.api_version)
        return self._get(spec.path, spec.path, version, params, lambda body: self._parse(spec, version, body))

    def get_object(self, path: str, endpoint: str, api_version: str | None = None) -> dict[str, Any]:
        """One object by ID (`GET /batch_runs/{id}` ...), retried like a page; `endpoint` is the path's
        template, the label its requests are counted under (an ID is no label value)."""
        return self._get(path, endpoint, api_version or self.api_version, {}, _object)

    def _get(
        self,
        path: str,
        endpoint: str,
        version: str,
        params: Mapping[str, str | int],
        parse: Callable[[_Body], _T],
    ) -> _T:
        attempt = 0
        while True:
            self._check_hold(endpoint)
            self._wait_for_hold()
            if self._stop.is_set() or not self._bucket.acquire(self._stop):
                raise Cancelled()
            try:
                return parse(self._send(path, endpoint, version, params))
            except _Retryable as exc:
                if self._stop.is_set():
                    raise Cancelled() from None
                if exc.retry_after is not None:
                    self._hold(exc.retry_after)
                    self._check_hold(endpoint)
                if attempt >= self._retry.max_retries:
                    tries = f"{attempt + 1} {'try' if attempt == 0 else 'tries'}"
                    raise ApiError(
                        exc.reason, f"{endpoint}: {exc} (gave up after {tries})", exc.status
                    ) from None
                delay = exc.retry_after if exc.retry_after is not None else self._backoff(attempt)
                self._telemetry.api_retries.labels(endpoint, exc.reason).inc()
                log.info("retrying %s in %.1fs: %s", endpoint, delay, exc)
                if self._stop.wait(delay):
                    raise Cancelled() from None
                attempt += 1

    def _hold(self, seconds: float) -> None:
        with self._hold_lock:
            self._hold_until = max(self._hold_until, time.monotonic() + seconds)

    def _check_hold(self, endpoint: str) -> None:
        """ApiError (rate_limited) when the hold in force outlasts what a sync may wait."""
        if self._max_hold is None:
            return
        with self._hold_lock:
            remaining = self._hold_until - time.monotonic()
        if remaining > self._max_hold:
            raise ApiError(
                "rate_limited",
                f"{endpoint}: the API asked to wait {remaining:.0f}s more (Retry-After), longer than a "
                f"sync may wait ({self._max_hold:g}s); requests resume after the hold",
                429,
            )

    def _wait_for_hold(self) -> None:
        """Sleep (interruptibly) while a Retry-After the API sent is still running."""
        while True:
            with self._hold_lock:
                remaining = self._hold_until - time.monotonic()
            if remaining <= 0 or self._stop.wait(remaining):
                return

    def iter_pages(self, spec: KindSpec, params: Mapping[str, str | int]) -> Iterator[Page]:
        """Every page of a listing; ApiError (bad_response) when its tokens repeat or never end."""
        page_size = max(1, int(params.get("maxPageSize", 1)))
        max_pages = -(-self._max_runs_per_listing // page_size)
        token: str | None = None
        tokens: set[str] = set()
        for _ in range(max_pages):
            page = self.list_page(spec, {**params, "nextPageToken": token} if token else params)
            yield page
            if not page.next_token:
                return
            if page.next_token in tokens:
                raise ApiError("bad_response", f"{spec.path}: a nextPageToken repeated (endless listing)")
            token = page.next_token
            tokens.add(token)
        raise ApiError(
            "bad_response",
            f"{spec.path}: more than {max_pages} pages of {page_size} "
            f"(max runs per listing {self._max_runs_per_listing}); giving up on the listing",
        )

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self._retry.max_delay, self._retry.base_delay * (2**attempt))
        return self._random.uniform(ceiling / 2, ceiling)

    def _response_cap(self, params: Mapping[str, str | int]) -> int:
        return RESPONSE_BYTES_BASE + max(1, int(params.get("maxPageSize", 1))) * self._bytes_per_run

    def _send(self, path: str, endpoint: str, version: str, params: Mapping[str, str | int]) -> _Body:
        """One request under one deadline for all of it (connect, headers, body): the status and body.

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
                path,
                params=dict(params),
                headers=self._headers(version),
                extensions={"trace": self._in_flight.trace},
            ) as response:
                code = str(response.status_code)
                body = self._read_body(response, self._response_cap(params), deadline)
        except _DeadlineExceeded:
            code = "timeout"
            raise _Retryable("timeout", f"no complete answer within {self._timeout:g}s") from None
        except httpx.TimeoutException:
            code = "timeout"
            raise _Retryable("timeout", f"no complete answer within {self._timeout:g}s") from None
        except httpx.TransportError as exc:
            if self._stop.is_set():
                raise Cancelled() from None
            raise _Retryable("transport_error", transport_cause(exc)) from None
        finally:
            self._in_flight.end(token)
            self._telemetry.api_requests.labels(endpoint, code).inc()
            self._telemetry.api_request_duration.labels(endpoint).observe(time.perf_counter() - started)
        status = response.status_code
        if status == 200:
            return body
        detail = _error_code(body.content)
        if status == 429:
            raise _Retryable(
                "rate_limited", f"HTTP 429{detail}", status, _retry_after(response, self._max_retry_after)
            )
        if status >= 500 or status == 408:
            raise _Retryable(
                "server_error",
                f"HTTP {status}{detail}",
                status,
                _retry_after(response, self._max_retry_after),
            )
        reason = _NON_RETRYABLE.get(status, "client_error")
        raise ApiError(reason, f"{endpoint}: HTTP {status}{detail}", status)

    def _read_body(self, response: httpx.Response, cap: int, deadline: float) -> _Body:
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
            raise _Retryable("bad_response", f"unsupported Content-Encoding {encoding[:20]!r}")
        chunks: Iterable[bytes] = response.iter_raw()  # as the socket gives it: a drip is seen per read
        if response.is_stream_consumed:  # a transport that answers from memory (tests, benchmarks)
            chunks, decoder = [response.content], None
        raw_total = 0
        out = bytearray()
        try:
            for chunk in chunks:
                if self._stop.is_set():
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
            raise _Retryable("bad_response", f"body is not valid {encoding}") from None
        if len(out) > cap:
            raise too_big
        if time.monotonic() > deadline:
            raise _DeadlineExceeded()
        return _Body(bytes(out))

    def _parse(self, spec: KindSpec, version: str, response: _Body) -> Page:
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            if "not enough memory" in str(exc).lower():  # orjson reports a failed allocation this way
                raise MemoryError("parsing a response body") from None
            raise _Retryable("bad_response", "malformed JSON body") from None
        if not isinstance(body, dict):
            raise _Retryable("bad_response", "response body is not an object")
        items: Any = None
        for key in spec.envelope_keys(version):
            if key in body:
                items = body[key]
                break
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise _Retryable("bad_response", f"response lacks the {spec.envelope_keys(version)[0]!r} list")
        token = body.get("nextPageToken")
        return Page(items, token if isinstance(token, str) and token else None)


@dataclass(frozen=True)
class _Body:
    content: bytes


_T = TypeVar("_T")


def _object(response: _Body) -> dict[str, Any]:
    """A JSON object body (a GET by ID answers one, bare or in an envelope the caller unwraps)."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        if "not enough memory" in str(exc).lower():
            raise MemoryError("parsing a response body") from None
        raise _Retryable("bad_response", "malformed JSON body") from None
    if not isinstance(body, dict):
        raise _Retryable("bad_response", "response body is not an object")
    return body


class _DeadlineExceeded(Exception):
    pass


class _Retryable(Exception):
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
