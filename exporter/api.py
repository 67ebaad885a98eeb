"""HTTP client for the Extend list endpoints: headers, pages, retries, the shared request budget.

Knows nothing about counting. Never puts the API key into an exception, a log line or a metric.
"""

from __future__ import annotations

import email.utils
import logging
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from . import __version__
from .kinds import KindSpec
from .ratelimit import TokenBucket
from .telemetry import Telemetry

log = logging.getLogger(__name__)

USER_AGENT = f"extend-exporter/{__version__} (+https://github.com/extend-exporter)"
MAX_RETRY_AFTER_SECONDS = 300.0
_NON_RETRYABLE = {401: "unauthorized", 402: "payment_required", 403: "forbidden"}


class ApiError(Exception):
    """A request that failed for good. `reason` is a fixed, low-cardinality word."""

    def __init__(self, reason: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


class Cancelled(Exception):
    """The exporter is shutting down; the request was abandoned."""


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
    ) -> None:
        self._api_key = api_key
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
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def _headers(self, api_version: str) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._api_key()}", "x-extend-api-version": api_version}
        if self._workspace_id:
            headers["x-extend-workspace-id"] = self._workspace_id
        return headers

    def list_page(self, spec: KindSpec, params: Mapping[str, str | int]) -> Page:
        """One page of a run list, retried on 429, 5xx, transport errors and malformed bodies."""
        version = spec.request_version(self.api_version)
        endpoint = spec.path
        attempt = 0
        while True:
            self._wait_for_hold()
            if self._stop.is_set() or not self._bucket.acquire(self._stop):
                raise Cancelled()
            try:
                return self._parse(spec, version, self._send(endpoint, version, params))
            except _Retryable as exc:
                if exc.retry_after is not None:
                    self._hold(exc.retry_after)
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

    def _wait_for_hold(self) -> None:
        """Sleep (interruptibly) while a Retry-After the API sent is still running."""
        while True:
            with self._hold_lock:
                remaining = self._hold_until - time.monotonic()
            if remaining <= 0 or self._stop.wait(remaining):
                return

    def iter_pages(self, spec: KindSpec, params: Mapping[str, str | int]) -> Iterator[Page]:
        token: str | None = None
        while True:
            page = self.list_page(spec, {**params, "nextPageToken": token} if token else params)
            yield page
            if not page.next_token:
                return
            token = page.next_token

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self._retry.max_delay, self._retry.base_delay * (2**attempt))
        return self._random.uniform(ceiling / 2, ceiling)

    def _send(self, endpoint: str, version: str, params: Mapping[str, str | int]) -> httpx.Response:
        started = time.perf_counter()
        code = "error"
        try:
            response = self._http.get(endpoint, params=dict(params), headers=self._headers(version))
            code = str(response.status_code)
        except httpx.TransportError as exc:
            raise _Retryable("transport_error", transport_cause(exc)) from None
        finally:
            self._telemetry.api_requests.labels(endpoint, code).inc()
            self._telemetry.api_request_duration.labels(endpoint).observe(time.perf_counter() - started)
        status = response.status_code
        if status == 200:
            return response
        detail = _error_code(response)
        if status == 429:
            raise _Retryable("rate_limited", f"HTTP 429{detail}", status, _retry_after(response))
        if status >= 500 or status == 408:
            raise _Retryable("server_error", f"HTTP {status}{detail}", status, _retry_after(response))
        reason = _NON_RETRYABLE.get(status, "client_error")
        raise ApiError(reason, f"{endpoint}: HTTP {status}{detail}", status)

    def _parse(self, spec: KindSpec, version: str, response: httpx.Response) -> Page:
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
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


def _retry_after(response: httpx.Response) -> float | None:
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
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def _error_code(response: httpx.Response) -> str:
    """The API's machine-readable error code, if the body has one (never free text)."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return ""
    code = body.get("code") if isinstance(body, dict) else None
    if isinstance(code, str) and code.replace("_", "").isalnum() and len(code) <= 40:
        return f" {code}"
    return ""
