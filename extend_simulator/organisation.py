"""Several workspaces behind one organisation key, on one server: what an exporter of several
workspaces talks to.

Each workspace is a ``SimState`` of its own (its world, workload, truth and faults, from its own
config); the organisation adds what they share, checked before a request reaches its workspace:

1. one organisation-wide rate limit (Extend limits the organisation): 429 ``RATE_LIMIT_EXCEEDED``
   with ``Retry-After``, whichever workspace the request names;
2. the workspace header: an organisation key must send ``x-extend-workspace-id`` (401 without it),
   naming a workspace of the organisation (401 for an unknown ID, as for a workspace the key cannot
   reach);
3. access taken away mid-test (``deny``): 403 ``FORBIDDEN`` (the key lost access), 404
   ``NOT_FOUND`` (the workspace was deleted) or 401, until ``allow``.

Then the workspace answers as a ``Simulator`` does (its faults, key check, routes). Every request is
also reported to ``on_request(workspace, template, code)``, which tests may wrap to time them.
Control endpoints: ``/_sim/org/...`` (below) for the organisation; any other ``/_sim/`` path goes to
the workspace named by ``?workspace=`` (the first one without it).

=============================================  ================================================
``GET  /_sim/org``                             ``{"workspaces": [...], "api_key", "qps_limit"}``
``POST /_sim/org/deny?workspace=&status=403``  the key loses access to the workspace
``POST /_sim/org/allow?workspace=``            access is back
``POST /_sim/org/qps?limit=<n|off>``           the organisation's rate limit
``POST /_sim/org/advance?seconds=``            advance every workspace's clock
=============================================  ================================================
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Mapping
from urllib.parse import parse_qs

from .api import Api, rate_limited
from .clock import RealtimeDriver
from .config import SimConfig
from .faults import TokenBucket
from .http import ServerThread
from .response import Response, json_response
from .state import SimState

DEFAULT_ORG_KEY = "sk_sim_org"
_DENIALS = {
    401: ("UNAUTHORIZED", "API key has no access to this workspace."),
    403: ("FORBIDDEN", "You do not have permission to access this workspace."),
    404: ("NOT_FOUND", "Workspace not found."),
}


class Organisation:
    """Workspaces by ID, each built from its ``SimConfig`` (its key, workspace ID and rate limit are
    the organisation's), one server, one rate limit."""

    def __init__(
        self,
        workspaces: Mapping[str, SimConfig],
        *,
        api_key: str = DEFAULT_ORG_KEY,
        qps_limit: float | None = 10.0,
        qps_burst: float | None = None,
    ) -> None:
        if not workspaces:
            raise ValueError("an organisation needs at least one workspace")
        self.api_key = api_key
        self.bucket = TokenBucket(qps_limit, qps_burst)
        self.workspaces: dict[str, SimState] = {}
        self._apis: dict[str, Api] = {}
        for workspace_id, config in workspaces.items():
            own = config.replace(
                keys={api_key: {"org_scoped": True}},
                api_key=api_key,
                workspace_id=workspace_id,
                qps_limit=None,  # the organisation's limit applies instead
            )
            state = SimState(own)
            self.workspaces[workspace_id] = state
            self._apis[workspace_id] = Api(state)
        self._lock = threading.Lock()
        self._denied: dict[str, int] = {}  # workspace -> the status its requests get
        self.requests: Counter[tuple[str, str, int]] = Counter()  # (workspace, template, code) -> n
        self._server: ServerThread | None = None
        self._drivers: list[RealtimeDriver] = []

    # -- life cycle -------------------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._server is not None:
            raise RuntimeError("organisation already started")
        self._server = ServerThread(self, host, port)
        self._server.start()
        for state in self.workspaces.values():
            if state.config.realtime:
                driver = RealtimeDriver(state.advance, state.config.speed, state.config.tick_seconds)
                driver.start()
                self._drivers.append(driver)

    def stop(self) -> None:
        for driver in self._drivers:
            driver.stop()
        self._drivers = []
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("organisation not started")
        return f"http://{self._server.host!s}:{self._server.port}"

    # -- what tests do ------------------------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        """Advance every workspace's clock by ``seconds`` of virtual time."""
        for state in self.workspaces.values():
            state.advance(seconds)

    def deny(self, workspace: str, status: int = 403) -> None:
        """The key loses access to ``workspace``: its requests get ``status`` (401, 403 or 404)."""
        if status not in _DENIALS:
            raise ValueError(f"status must be one of {sorted(_DENIALS)}")
        with self._lock:
            self._denied[workspace] = status

    def allow(self, workspace: str) -> None:
        with self._lock:
            self._denied.pop(workspace, None)

    def set_qps_limit(self, limit: float | None, burst: float | None = None) -> None:
        self.bucket.configure(limit, burst)

    def on_request(self, workspace: str, template: str, code: int) -> None:
        """Every API request answered (``workspace`` "" when it named none it could use)."""
        with self._lock:
            self.requests[(workspace, template, code)] += 1

    # -- requests -----------------------------------------------------------------------------------
    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes = b""
    ) -> Response:
        """``headers`` keys are lower-case."""
        if path == "/_sim/org" or path.startswith("/_sim/org/"):
            return self._control(method, path, query)
        if path.startswith("/_sim/") or path == "/_sim":
            named = parse_qs(query).get("workspace", [next(iter(self.workspaces))])[-1]
            api = self._apis.get(named)
            if api is None:
                return json_response(404, {"error": f"unknown workspace {named!r}"})
            return api.handle(method, path, query, headers, body)
        workspace = headers.get("x-extend-workspace-id", "")
        api = self._apis.get(workspace)
        template = Api.template_of(path)
        refused = self._refusal(api, workspace, headers, template)
        response = refused or self._answer(api, method, path, query, headers, body)
        self.on_request(workspace if api is not None else "", template, response.status)
        return response

    def _refusal(
        self, api: Api | None, workspace: str, headers: dict[str, str], template: str
    ) -> Response | None:
        """What the organisation answers before the workspace does, if anything."""
        wait = self.bucket.acquire()
        version = headers.get("x-extend-api-version")
        if wait > 0:
            refused = rate_limited(max(1, math.ceil(wait)))
        elif api is None:
            return None  # the workspace check of an unknown or missing ID: see _answer
        else:
            with self._lock:
                status = self._denied.get(workspace)
            if status is None:
                return None
            code, message = _DENIALS[status]
            refused = api.error(status, code, message, version)
        if api is not None:
            api.sim.truth.on_request(template, refused.status)  # the workspace counts what it was sent
        return refused

    def _answer(
        self, api: Api | None, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Response:
        if api is None:
            # No header, or an ID of no workspace here: the first workspace's key check refuses it
            # (401), in the shape the request's API version asks for.
            first = next(iter(self._apis.values()))
            return first.refuse_workspace(headers)
        return api.handle(method, path, query, headers, body)

    def _control(self, method: str, path: str, query: str) -> Response:
        q = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        try:
            if path == "/_sim/org" and method == "GET":
                body = {
                    "workspaces": list(self.workspaces),
                    "api_key": self.api_key,
                    "qps_limit": self.bucket.rate,
                }
                return json_response(200, body)
            if path == "/_sim/org/deny" and method == "POST":
                self.deny(q["workspace"], int(q.get("status", "403")))
                return json_response(200, {"workspace": q["workspace"], "denied": True})
            if path == "/_sim/org/allow" and method == "POST":
                self.allow(q["workspace"])
                return json_response(200, {"workspace": q["workspace"], "denied": False})
            if path == "/_sim/org/qps" and method == "POST":
                raw = q.get("limit", "off")
                self.set_qps_limit(None if raw in ("off", "", "0") else float(raw))
                return json_response(200, {"qps_limit": self.bucket.rate})
            if path == "/_sim/org/advance" and method == "POST":
                self.advance(float(q.get("seconds", "0")))
                return json_response(200, {"ok": True})
        except (KeyError, ValueError) as exc:
            return json_response(400, {"error": f"bad control request: {exc}"})
        return json_response(404, {"error": f"unknown control endpoint {method} {path}"})
