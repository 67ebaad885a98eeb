"""The Extend list endpoints as one workspace sees them: its headers, pages, retries, holds.

Each workspace has a client of its own (its `x-extend-workspace-id`, its request counters, its lane in
the budget); they share the HTTP session (session.py) and the request budget (ratelimit.py), since
Extend limits the organisation, not the workspace. Knows nothing about counting. Never puts the API
key into an exception, a log line or a metric.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from ..kinds import KindSpec
from ..metrics.telemetry import WorkspaceTelemetry
from .ratelimit import RequestBudget
from .session import RESPONSE_BYTES_BASE, ApiError, Body, Cancelled, Retryable, Session

__all__ = ["RESPONSE_BYTES_BASE", "ApiClient", "ApiError", "Cancelled", "Page", "RetryPolicy"]

log = logging.getLogger("exporter.api")  # the name log lines carried before the module moved

# A listing is read to at most this many runs (maxPageSize x pages): endless nextPageTokens fail the sync.
DEFAULT_MAX_RUNS_PER_LISTING = 1_000_000


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
        session: Session,
        api_key: Callable[[], str],
        *,
        api_version: str,
        workspace_id: str | None,
        budget: RequestBudget,
        telemetry: WorkspaceTelemetry,
        retry: RetryPolicy | None = None,
        max_runs_per_listing: int = DEFAULT_MAX_RUNS_PER_LISTING,
        max_hold: float | None = None,
    ) -> None:
        self._session = session
        self._api_key = api_key
        # A Retry-After hold longer than this fails the request at once (rate_limited) instead of being
        # waited out inside a sync, so extend_up tells the truth during the hold; None: always wait.
        self._max_hold = max_hold
        self._max_runs_per_listing = max_runs_per_listing
        self.api_version = api_version
        self._workspace_id = workspace_id
        self._lane = workspace_id or ""  # this workspace's turn in the budget's round
        self._budget = budget
        self._telemetry = telemetry
        self._retry = retry or RetryPolicy()
        self._stop = session.stop
        self._random = random.Random()

    def close(self) -> None:
        self._session.close()

    def abort(self) -> None:
        """Cut requests in flight (at shutdown): their syncs end with Cancelled instead of waiting."""
        self._session.abort()
        self._budget.wake_all()

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
        parse: Callable[[Body], _T],
    ) -> _T:
        attempt = 0
        while True:
            self._check_hold(endpoint)
            self._wait_for_hold()
            if self._stop.is_set() or not self._budget.acquire(self._lane, self._stop):
                raise Cancelled()
            try:
                body = self._session.send(
                    endpoint, params, self._headers(version), self._counter(endpoint), path=path
                )
                return parse(body)
            except Retryable as exc:
                if self._stop.is_set():
                    raise Cancelled() from None
                if exc.retry_after is not None:
                    # Extend limits the organisation: a Retry-After holds every workspace's requests
                    # (all kinds, and the next syncs too), not just the retry of this one.
                    self._budget.hold(exc.retry_after)
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

    def _counter(self, endpoint: str) -> Callable[[str], None]:
        """Counts one answer (its HTTP status, `error` or `timeout`) of `endpoint` for this workspace."""
        return lambda code: self._telemetry.api_requests.labels(endpoint, code).inc()

    def _check_hold(self, endpoint: str) -> None:
        """ApiError (rate_limited) when the hold in force outlasts what a sync may wait."""
        if self._max_hold is None:
            return
        remaining = self._budget.hold_remaining()
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
            remaining = self._budget.hold_remaining()
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

    def _parse(self, spec: KindSpec, version: str, response: Body) -> Page:
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            if "not enough memory" in str(exc).lower():  # orjson reports a failed allocation this way
                raise MemoryError("parsing a response body") from None
            raise Retryable("bad_response", "malformed JSON body") from None
        if not isinstance(body, dict):
            raise Retryable("bad_response", "response body is not an object")
        items: Any = None
        for key in spec.envelope_keys(version):
            if key in body:
                items = body[key]
                break
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise Retryable("bad_response", f"response lacks the {spec.envelope_keys(version)[0]!r} list")
        token = body.get("nextPageToken")
        return Page(items, token if isinstance(token, str) and token else None)


_T = TypeVar("_T")


def _object(response: Body) -> dict[str, Any]:
    """A JSON object body (a GET by ID answers one, bare or in an envelope the caller unwraps)."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        if "not enough memory" in str(exc).lower():
            raise MemoryError("parsing a response body") from None
        raise Retryable("bad_response", "malformed JSON body") from None
    if not isinstance(body, dict):
        raise Retryable("bad_response", "response body is not an object")
    return body
