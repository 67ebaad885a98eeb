"""What the HTTP server answers: /metrics (cached exposition), /healthz, /readyz and a landing page.

/metrics answers in OpenMetrics 1.0 (with exemplars) when the Accept header prefers it, as Prometheus'
scrapes do, and in the classic text format otherwise; gzipped when Accept-Encoding allows.

With basic auth configured (web config), /metrics and the landing page need credentials; /healthz and
/readyz do not, so liveness and readiness probes (kubelet, the image's HEALTHCHECK) work without a
password in the pod spec. They reveal nothing but up/ready: /readyz lists its reasons only to
authorised callers. A handler answers one request whose head the connection loop has already read
(handler.py); request bodies are refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS

from .. import __version__
from ..metrics.collector import Exposition
from .handler import TEXT, OneRequestHandler

LANDING = """<!doctype html>
<html><head><title>Extend exporter</title></head>
<body><h1>Extend exporter</h1><p>Version {version}</p>
<ul><li><a href="metrics">/metrics</a></li><li><a href="healthz">/healthz</a></li>
<li><a href="readyz">/readyz</a></li></ul></body></html>
"""
# Probes reach these without credentials (see the module docstring).
PROBE_PATHS = frozenset({"/healthz", "/readyz"})


@dataclass(frozen=True)
class Endpoints:
    """What the answers come from."""

    exposition: Exposition
    readiness: Callable[[], list[str]]  # why the exporter is not ready; empty when it is
    authorize: Callable[[str | None], bool] | None = None  # the Authorization header -> allowed


def _items(header: str) -> list[tuple[str, dict[str, str]]]:
    """A comma-separated header's items: (value in lower case, its parameters with lower-case names)."""
    items = []
    for item in header.split(","):
        value, *params = (p.strip() for p in item.split(";"))
        if value:
            named = (param.partition("=") for param in params)
            items.append((value.lower(), {k.strip().lower(): v.strip().strip('"') for k, _, v in named}))
    return items


def _q(params: dict[str, str]) -> float:
    try:
        return float(params.get("q", "1"))
    except ValueError:
        return 0.0


def accepts_gzip(header: str) -> bool:
    """True when Accept-Encoding allows gzip: listed (or `*`) with a q-value above 0 (RFC 9110 12.5.3)."""
    quality = {coding: _q(params) for coding, params in _items(header)}
    return quality.get("gzip", quality.get("x-gzip", quality.get("*", 0.0))) > 0


@lru_cache(maxsize=64)  # a scraper sends the same header every time
def wants_openmetrics(accept: str) -> bool:
    """True when Accept prefers OpenMetrics 1.0 (no version, or 1.x) to the classic text format, by
    q-value, each type taking the q of the most specific range that matches it (RFC 9110 12.5.1); a
    tie, or no Accept, keeps the classic format."""
    openmetrics: tuple[int, float] = (-1, 0.0)  # (specificity, q) of the best match so far
    classic: tuple[int, float] = (-1, 0.0)
    for media, params in _items(accept):
        q = _q(params)
        version = params.get("version", "1")
        if media == "application/openmetrics-text" and version.split(".")[0] == "1":
            openmetrics = max(openmetrics, (2, q))
        elif media == "application/*":
            openmetrics = max(openmetrics, (1, q))
        elif media == "text/plain":
            classic = max(classic, (2, q))
        elif media == "text/*":
            classic = max(classic, (1, q))
        elif media == "*/*":
            openmetrics, classic = max(openmetrics, (0, q)), max(classic, (0, q))
    return openmetrics[1] > 0 and openmetrics[1] > classic[1]


class RequestHandler(OneRequestHandler):
    endpoints: ClassVar[Endpoints]  # set on the subclass make_handler returns

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        # No bodies: one would otherwise be parsed as the next request (smuggling behind a proxy).
        if "Transfer-Encoding" in self.headers:
            self.send_error(400, "Transfer-Encoding is not accepted")
            return False
        length = self.headers.get("Content-Length", "0").strip()
        if length != "0":
            self.send_error(413 if length.isdigit() else 400, "Request bodies are not accepted")
            return False
        return True

    def do_HEAD(self) -> None:
        self.do_GET()

    def _authorized(self) -> bool:
        authorize = self.endpoints.authorize
        return authorize is None or authorize(self.headers.get("Authorization"))

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path not in PROBE_PATHS and not self._authorized():
            self._send(401, b"Unauthorized\n", TEXT, {"WWW-Authenticate": 'Basic realm="extend-exporter"'})
        elif path == "/metrics":
            self._metrics()
        elif path == "/healthz":
            self._send(200, b"ok\n", TEXT)
        elif path == "/readyz":
            self._readyz()
        elif path == "/":
            self._send(200, LANDING.format(version=__version__).encode(), "text/html; charset=utf-8")
        else:
            self._send(404, b"not found\n", TEXT)

    def _metrics(self) -> None:
        rendered = self.endpoints.exposition.current
        vary = {"Vary": "Accept, Accept-Encoding"}
        gzipped = accepts_gzip(self.headers.get("Accept-Encoding", ""))
        if wants_openmetrics(self.headers.get("Accept", "")):
            content_type = OPENMETRICS
            body = rendered.openmetrics_gzipped if gzipped else rendered.openmetrics
        else:
            content_type = CONTENT_TYPE_LATEST
            body = rendered.gzipped if gzipped else rendered.text
        self._send(200, body, content_type, {"Content-Encoding": "gzip", **vary} if gzipped else vary)

    def _readyz(self) -> None:
        problems = self.endpoints.readiness()
        if problems:
            detail = "".join(f"{p}\n" for p in problems) if self._authorized() else ""
            self._send(503, f"not ready\n{detail}".encode(), TEXT)
        else:
            self._send(200, b"ready\n", TEXT)


def make_handler(endpoints: Endpoints) -> type[RequestHandler]:
    """A handler class answering from `endpoints` (http.server builds one handler per request)."""

    class Handler(RequestHandler):
        pass

    Handler.endpoints = endpoints
    return Handler
