"""Shared helpers for the simulator tests (HTTP over 127.0.0.1 with httpx)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from extend_simulator import Simulator

V_NEW = "2026-02-09"
V_OLD = "2025-04-21"

NEW_ENDPOINTS = ("/extract_runs", "/classify_runs", "/split_runs", "/parse_runs", "/edit_runs")
FAMILY_OF = {
    "/extract_runs": "extract",
    "/classify_runs": "classify",
    "/split_runs": "split",
    "/parse_runs": "parse",
    "/edit_runs": "edit",
    "/workflow_runs": "workflow",
}
ENVELOPE_KEY = {"/processor_runs": "processorRuns"}
# Spelled out from the API reference, not imported from the simulator, so the tests check it.
WORKFLOW_STATUSES = frozenset(
    {"PENDING", "PROCESSING", "NEEDS_REVIEW", "REJECTED", "PROCESSED", "FAILED", "CANCELLED", "CANCELLING"}
)


def headers(sim: Simulator, version: str | None = V_NEW, **extra: str) -> dict[str, str]:
    h = {"Authorization": f"Bearer {sim.api_key}"}
    if version is not None:
        h["x-extend-api-version"] = version
    h.update(extra)
    return h


def client(sim: Simulator, version: str | None = V_NEW, timeout: float = 10.0) -> httpx.Client:
    return httpx.Client(base_url=sim.url, headers=headers(sim, version), timeout=timeout)


def envelope_key(path: str, version: str) -> str:
    if path == "/processor_runs":
        return "processorRuns"
    if path == "/workflow_runs" and version != V_NEW:
        return "workflowRuns"
    return "data"


def iter_pages(
    c: httpx.Client,
    path: str,
    params: dict[str, Any] | None = None,
    version: str = V_NEW,
    max_pages: int = 10_000,
) -> Iterator[dict[str, Any]]:
    """Yield each page body, following nextPageToken until it is absent or null."""
    p = dict(params or {})
    for _ in range(max_pages):
        r = c.get(path, params=p, headers={"x-extend-api-version": version})
        assert r.status_code == 200, (r.status_code, r.text)
        body: dict[str, Any] = r.json()
        yield body
        token = body.get("nextPageToken")
        if token is None:
            return
        p["nextPageToken"] = token
    raise AssertionError("too many pages")


def list_all(
    c: httpx.Client, path: str, params: dict[str, Any] | None = None, version: str = V_NEW
) -> list[dict[str, Any]]:
    key = envelope_key(path, version)
    out: list[dict[str, Any]] = []
    base = {"maxPageSize": 1000, **(params or {})}
    for body in iter_pages(c, path, base, version):
        out.extend(body[key])
    return out


def wait_for(cond: Callable[[], bool], timeout: float = 5.0, interval: float = 0.02) -> None:
    """Wait on a condition with a deadline (no sleep-and-hope)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(interval)
    raise AssertionError("condition not met before the deadline")
