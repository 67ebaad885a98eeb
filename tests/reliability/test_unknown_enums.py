"""Enum values newer than the exporter, served by a tiny local API (the simulator only emits known ones).

Unknown statuses become their own label values (bounded: at most MAX_EXTRA_STATUSES per kind, the
rest and anything not label-safe count under OTHER); unknown sources count under source UNKNOWN; the
sync never fails on them and /metrics stays valid.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from exporter.api.apikey import ApiKeySource
from exporter.api.identity import key_fingerprint
from exporter.config import load_settings
from exporter.factory import build_exporter
from exporter.metrics.labels import MAX_EXTRA_STATUSES
from tests.exporter_process import parse_metrics, series

T0 = datetime(2026, 11, 1, tzinfo=UTC)


class CraftedApi:
    """Serves `runs` for /workflow_runs and /extract_runs, updatedAt-desc, honouring status/source."""

    def __init__(self) -> None:
        self.runs: dict[str, list[dict[str, Any]]] = {"/workflow_runs": [], "/extract_runs": []}
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                q = {k: v[-1] for k, v in parse_qs(url.query).items()}
                with api.lock:
                    runs = [
                        {k: v for k, v in r.items() if k != "_source"}
                        for r in api.runs.get(url.path, [])
                        if q.get("status", r["status"]) == r["status"]
                        and q.get("source", r.get("_source")) == r.get("_source")
                    ]
                runs.sort(key=lambda r: (r["updatedAt"], r["id"]), reverse=True)
                body = orjson.dumps({"object": "list", "data": runs})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def put(
        self, path: str, rid: str, status: str, created: int, updated: int, source: str | None = None
    ) -> None:
        run: dict[str, Any] = {
            "id": rid,
            "status": status,
            "createdAt": (T0 + timedelta(seconds=created)).isoformat(),
            "updatedAt": (T0 + timedelta(seconds=updated)).isoformat(),
        }
        if source is not None:
            run["_source"] = source
        with self.lock:
            self.runs[path] = [r for r in self.runs[path] if r["id"] != rid] + [run]


@pytest.fixture
def crafted() -> Iterator[CraftedApi]:
    api = CraftedApi()
    api.thread.start()
    yield api
    api.httpd.shutdown()
    api.httpd.server_close()


def test_unknown_statuses_and_sources_are_counted_and_bounded(crafted: CraftedApi) -> None:
    settings = load_settings(
        {
            "api_key": "sk_crafted",
            "api_base_url": crafted.url,
            "kinds": "workflow_run,extract_run",
            "max_requests_per_second": 100,
            "sync_overlap_seconds": 60,
        }
    )
    exporter = build_exporter(
        settings, ApiKeySource(settings.api_key, None), clock=lambda: T0.timestamp() + 100
    )
    crafted.put("/workflow_runs", "wr_active", "PROCESSING", 0, 0)
    crafted.put("/extract_runs", "ex_old", "PROCESSING", 0, 0, source="API")
    assert exporter.sync_kind("workflow_run") and exporter.sync_kind("extract_run")  # baseline
    # Enum values this exporter has never heard of:
    crafted.put("/workflow_runs", "wr_active", "ARCHIVED", 0, 10)  # a known run moves to a new status
    for i in range(MAX_EXTRA_STATUSES + 4):  # more distinct new statuses than the cap
        crafted.put("/workflow_runs", f"wr_new_{i}", f"NEW_STATUS_{i}", 5, 10 + i)
    crafted.put("/workflow_runs", "wr_garbage", 'bad "status"\n{x}', 5, 30)  # not label-safe
    crafted.put("/extract_runs", "ex_new", "PROCESSED", 5, 10, source="SOURCE_FROM_THE_FUTURE")
    crafted.put("/extract_runs", "ex_old", "FAILED", 0, 11, source="API")
    assert exporter.sync_kind("workflow_run") and exporter.sync_kind("extract_run")
    samples = parse_metrics(exporter.exposition.current.text.decode())
    labels = (("kind", "workflow_run"), ("workspace", key_fingerprint("sk_crafted")))
    assert series(samples, "extend_up", kind="workflow_run") == {labels: 1.0}
    finished = {
        dict(k)["status"]: v
        for k, v in series(samples, "extend_runs_finished_total", kind="workflow_run").items()
        if v
    }
    extra = {s for s in finished if s not in ("PROCESSED", "FAILED", "CANCELLED", "REJECTED", "OTHER")}
    assert len(extra) == MAX_EXTRA_STATUSES, finished  # bounded label set
    assert sum(finished.values()) == MAX_EXTRA_STATUSES + 4 + 1 + 1  # every run counted once
    assert all(finished[s] == 1 for s in extra)
    assert finished["OTHER"] == 4 + 1 + 1  # beyond the cap, and the one that is not label-safe
    ex = {
        (dict(k)["status"], dict(k)["source"]): v
        for k, v in series(samples, "extend_runs_finished_total", kind="extract_run").items()
        if v
    }
    assert ex == {("PROCESSED", "UNKNOWN"): 1.0, ("FAILED", "API"): 1.0}
    created = {
        dict(k)["source"]: v
        for k, v in series(samples, "extend_runs_created_total", kind="extract_run").items()
        if v
    }
    assert created == {"UNKNOWN": 1.0}
    # A sync again changes nothing: each run counted once per status.
    assert exporter.sync_kind("workflow_run") and exporter.sync_kind("extract_run")
    again = parse_metrics(exporter.exposition.current.text.decode())
    assert series(again, "extend_runs_finished_total") == series(samples, "extend_runs_finished_total")
    exporter.client.close()
