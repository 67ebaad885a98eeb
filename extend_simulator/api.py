"""Request handling, independent of sockets: (method, path, query, headers) -> Response.

Order of checks for API paths: QPS limit (429) -> injected faults -> auth (401) -> version header (400) ->
route (404 unknown path or endpoint absent in that version; 405 wrong method) -> parameters (400) -> page.

Documented choices (open questions in EXTEND_API.md):
* Missing ``x-extend-api-version`` -> 400 (behaviour for keys created after 2025-04-21); an unknown value
  -> 400.  ``2024-12-23`` is accepted and answered with the 2025-04-21 shapes.
* Error bodies: 2026-02-09 ``{code, message, retryable, requestId}``; 2025-04-21/2024-12-23
  ``{success:false, error}``.  When the version header is missing/unknown the 2026-02-09 shape is used.
  429 always uses the documented ``{code:"RATE_LIMIT_EXCEEDED", message, retryable:true}`` body.
* Org-scoped keys: missing or wrong ``x-extend-workspace-id`` -> 401 UNAUTHORIZED (the authentication page
  lists "insufficient permissions" among the 401 causes).  A workspace key sending a different workspace id
  -> 401 as well.  The header is required on every endpoint, including ``/batch_runs/{id}``.
* ``/extract_runs``, ``/classify_runs``, ``/split_runs``, ``/parse_runs``, ``/edit_runs``,
  ``/batch_runs/{id}`` and ``/evaluation_set_runs/{id}`` under 2025-04-21 -> 404 with the legacy error body
  (the route does not exist there). ``/batch_runs/{id}`` knows batch runs only (not legacy batch processor
  runs); ``/batch_processor_runs/{id}`` every processor batch; ``/evaluation_set_runs/{id}`` the legacy
  batch processor runs with source EVAL_SET.
* ``/parse_runs`` ignores ``sortBy``/``sortDir`` like any unknown parameter (order: ``parse_order``).
* Repeated query parameters -> 400; ``fileNameContains`` is case-insensitive; unknown parameters are ignored.
* Request accounting (``truth.requests()``): per path template (``/extract_runs``, ``/batch_runs/{id}``, ...;
  unknown paths count as ``*``), including requests answered with faults, 4xx or 429; a connection reset
  is recorded with code 0.  ``/_sim/`` requests are never counted (nor rate limited).
"""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from typing import Any
from urllib.parse import parse_qs

import orjson

from .control import handle_control
from .enums import API_V_CURRENT, KNOWN_VERSIONS
from .evaluations import evaluation_set_run
from .faults import POST_FAULTS, Fault
from .query import (
    LIST_ENDPOINTS,
    BadRequest,
    ListEndpoint,
    Page,
    materialize,
    page_keyset,
    page_offset,
    page_snapshot,
    parse_list_query,
)
from .response import Response, json_response
from .state import SimState
from .views import JSON

_HTML_502 = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>"
    b"</body></html>\n"
)
_HTML_503 = (
    b"<html><head><title>503 Service Temporarily Unavailable</title></head><body><center>"
    b"<h1>503 Service Temporarily Unavailable</h1></center></body></html>\n"
)


class Api:
    def __init__(self, sim: SimState) -> None:
        self.sim = sim
        self._request_no = itertools.count(1)
        self.snapshots: OrderedDict[int, list[Any]] = OrderedDict()
        self._snap_no = 0

    # -- helpers ----------------------------------------------------------------------------------
    def _request_id(self) -> str:
        return f"req_sim{self.sim.config.seed:x}{next(self._request_no):010d}"

    def error(
        self, status: int, code: str, message: str, version: str | None, retryable: bool = False
    ) -> Response:
        if version is not None and version != API_V_CURRENT and version in KNOWN_VERSIONS:
            return json_response(status, {"success": False, "error": message})
        body = {"code": code, "message": message, "retryable": retryable, "requestId": self._request_id()}
        return json_response(status, body)

    @staticmethod
    def template_of(path: str) -> str:
        if path in LIST_ENDPOINTS:
            return path
        for prefix in ("/batch_runs/", "/batch_processor_runs/", "/evaluation_set_runs/"):
            if path.startswith(prefix) and len(path) > len(prefix) and "/" not in path[len(prefix) :]:
                return prefix + "{id}"
        return "*"

    # -- entry point ------------------------------------------------------------------------------
    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes = b""
    ) -> Response:
        """``headers`` keys are lower-case."""
        if path.startswith("/_sim/") or path == "/_sim":
            return handle_control(self.sim, method, path, query, body)
        template = self.template_of(path)
        resp = self._handle_api(method, path, template, query, headers)
        self.sim.truth.on_request(template, 0 if resp.action == "reset" else resp.status)
        return resp

    def _handle_api(
        self, method: str, path: str, template: str, query: str, headers: dict[str, str]
    ) -> Response:
        sim = self.sim
        raw_version = headers.get("x-extend-api-version")
        version = raw_version if raw_version in KNOWN_VERSIONS else None
        wait = sim.bucket.acquire()
        if wait > 0:
            return rate_limited(max(1, math.ceil(wait)))
        fault = sim.faults.pick(template, sim.virtual_elapsed())
        if fault is not None and fault.kind not in POST_FAULTS:
            return self._pre_fault(fault, version)
        auth_error = self._check_auth(headers, version)
        if auth_error is not None:
            return auth_error
        if raw_version is None:
            return self.error(400, "INVALID_REQUEST", "Missing required header 'x-extend-api-version'.", None)
        if version is None:
            return self.error(400, "INVALID_REQUEST", f"Unsupported API version '{raw_version}'.", None)
        if template == "*":
            return self.error(404, "NOT_FOUND", f"Route {method} {path} not found.", version)
        if method != "GET":
            return self.error(405, "METHOD_NOT_ALLOWED", f"Method {method} not allowed.", version)
        try:
            params = parse_qs(query, keep_blank_values=True)
        except ValueError:
            return self.error(400, "INVALID_REQUEST", "Malformed query string.", version)
        try:
            if template in LIST_ENDPOINTS:
                ep = LIST_ENDPOINTS[template]
                if version not in ep.versions:
                    return self.error(404, "NOT_FOUND", f"Route GET {path} not found.", version)
                resp = json_response(200, self._list(ep, params, version))
            else:
                resp = self._get_batch(template, path, version)
        except BadRequest as exc:
            return self.error(400, "INVALID_REQUEST", str(exc), version)
        if fault is not None:
            resp = self._post_fault(fault, resp, template, version)
        return resp

    def refuse_workspace(self, headers: dict[str, str]) -> Response:
        """401 for a request that names no workspace of this server (an organisation's check)."""
        raw_version = headers.get("x-extend-api-version")
        version = raw_version if raw_version in KNOWN_VERSIONS else None
        refused = self._check_auth(headers, version)
        return refused or self.error(401, "UNAUTHORIZED", "API key has no access to this workspace.", version)

    def _check_auth(self, headers: dict[str, str], version: str | None) -> Response | None:
        sim = self.sim
        auth = headers.get("authorization", "")
        scheme, _, key = auth.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return self.error(401, "UNAUTHORIZED", "Missing or malformed Authorization header.", version)
        with sim.lock:
            spec = sim.config.keys.get(key)
            revoked = key in sim.revoked
        if spec is None or revoked:
            return self.error(401, "UNAUTHORIZED", "Invalid API key.", version)
        ws = headers.get("x-extend-workspace-id")
        if spec.get("org_scoped"):
            if not ws:
                msg = "The x-extend-workspace-id header is required for organization-scoped API keys."
                return self.error(401, "UNAUTHORIZED", msg, version)
            if ws != sim.config.workspace_id:
                return self.error(401, "UNAUTHORIZED", "API key has no access to this workspace.", version)
        elif ws and ws != sim.config.workspace_id:
            return self.error(401, "UNAUTHORIZED", "API key has no access to this workspace.", version)
        return None

    # -- faults -----------------------------------------------------------------------------------
    def _pre_fault(self, fault: Fault, version: str | None) -> Response:
        kind = fault.kind
        if kind == "rate_limit":
            return rate_limited(fault.retry_after)
        if kind == "http_500":
            return self.error(500, "INTERNAL_ERROR", "An unexpected error occurred.", version, retryable=True)
        if kind == "http_502":
            return Response(502, _HTML_502, content_type="text/html")
        if kind == "http_503":
            return Response(
                503, _HTML_503, [("Retry-After", str(fault.retry_after))], content_type="text/html"
            )
        if kind == "reset":
            return Response(0, action="reset")
        if kind == "unauthorized":
            return self.error(401, "UNAUTHORIZED", "Invalid API key.", version)
        if kind == "usage_blocked":
            msg = "Your organization is blocked due to insufficient credits."
            return self.error(402, "USAGE_BLOCKED", msg, version)
        if kind == "forbidden":
            return self.error(
                403, "FORBIDDEN", "You do not have permission to access this resource.", version
            )
        raise AssertionError(kind)

    def _post_fault(self, fault: Fault, resp: Response, template: str, version: str) -> Response:
        kind = fault.kind
        if kind == "slow":
            resp.delay = fault.delay
        elif kind == "malformed_json":
            resp.body = resp.body[:-1] + b",}" if len(resp.body) > 2 else b"{,}"
        elif kind == "truncated_envelope":
            obj = orjson.loads(resp.body)
            for key in ("data", "processorRuns", "workflowRuns", "batchProcessorRun"):
                obj.pop(key, None)
            if template in ("/batch_runs/{id}", "/evaluation_set_runs/{id}"):
                obj.pop("status", None)
            resp.body = orjson.dumps(obj)
        elif kind == "truncated_body":
            resp.body = resp.body[: max(1, len(resp.body) // 2)]
        elif kind == "short_read":
            resp.action = "short_read"
        return resp

    # -- endpoints --------------------------------------------------------------------------------
    def _list(self, ep: ListEndpoint, params: dict[str, list[str]], version: str) -> JSON:
        sim = self.sim
        cfg = sim.config
        with sim.lock:
            q = parse_list_query(ep, params, sim.world, sim.catalog, cfg.parse_order, cfg.shared_file_names)
            sl = sim.world.index(q.group, q.status, q.source, q.sort_by)
            cursor = sim.codec.decode(q.token) if q.token else None
            page = self._page(q, sl, cursor)
        legacy = version != API_V_CURRENT
        views = sim.views
        if ep.path == "/processor_runs":
            items = [views.processor_run_legacy(r) for r in page.runs]
            envelope: JSON = {"success": True, "processorRuns": items}
            legacy_env = True
        elif ep.path == "/workflow_runs" and legacy:
            envelope = {"success": True, "workflowRuns": [views.workflow_run_legacy(r) for r in page.runs]}
            legacy_env = True
        else:
            render = {
                "/workflow_runs": views.workflow_run_2026,
                "/parse_runs": views.parse_run_2026,
                "/edit_runs": views.edit_run_2026,
                "/verify_runs": views.verify_run_2026,
            }.get(ep.path, views.processor_run_2026)
            envelope = {"object": "list", "data": [render(r) for r in page.runs]}
            legacy_env = False
        token = sim.codec.encode(page.next_cursor) if page.next_cursor else None
        style = cfg.end_token_style or ("null" if legacy_env else "absent")
        if token is not None or style == "null":
            envelope["nextPageToken"] = token
        return envelope

    def _page(self, q: Any, sl: Any, cursor: str | None) -> Page:
        mode = self.sim.config.cursor_mode
        world = self.sim.world
        tag = cursor.split(":", 1)[0] if cursor else ""
        try:
            if cursor is None:
                if mode == "offset":
                    return page_offset(world, sl, q, 0)
                if mode == "keyset":
                    return page_keyset(world, sl, q, None)
                frozen = materialize(world, sl, q)
                self._snap_no += 1
                self.snapshots[self._snap_no] = frozen
                while len(self.snapshots) > max(1, self.sim.config.snapshot_limit):
                    self.snapshots.popitem(last=False)
                return page_snapshot(world, frozen, self._snap_no, 0, q.page_size)
            parts = cursor.split(":")
            if tag == "o":
                return page_offset(world, sl, q, int(parts[1]))
            if tag == "k":
                return page_keyset(world, sl, q, int(parts[1]))
            if tag == "s":
                snap = self.snapshots.get(int(parts[1]))
                if snap is None:
                    raise BadRequest("nextPageToken has expired; restart the listing.")
                self.snapshots.move_to_end(int(parts[1]))
                return page_snapshot(world, snap, int(parts[1]), int(parts[2]), q.page_size)
        except (IndexError, ValueError) as exc:
            raise BadRequest("Invalid nextPageToken.") from exc
        raise BadRequest("Invalid nextPageToken.")

    def _get_batch(self, template: str, path: str, version: str) -> Response:
        """/batch_runs/{id} (batch runs of the 2026 batch endpoints), /batch_processor_runs/{id} (any
        processor batch, legacy shape), /evaluation_set_runs/{id} (legacy EVAL_SET batches)."""
        sim = self.sim
        bid = path.rsplit("/", 1)[1]
        processors = ("extract", "classify", "split")
        if template != "/batch_processor_runs/{id}" and version != API_V_CURRENT:
            return self.error(404, "NOT_FOUND", f"Route GET {path} not found.", version)
        with sim.lock:
            body: JSON | None = None
            if template == "/batch_runs/{id}":
                batch = sim.find_batch(bid, (*processors, "parse"), legacy=False)
                body = sim.views.batch_run(batch) if batch is not None else None
            elif template == "/batch_processor_runs/{id}":
                batch = sim.find_batch(bid, processors)
                body = sim.views.batch_processor_run(batch) if batch is not None else None
            else:
                batch = sim.find_batch(bid, processors, legacy=True)
                if batch is not None and batch.legacy_source == "EVAL_SET":
                    body = evaluation_set_run(
                        sim.config.seed,
                        batch,
                        sim.batches.members(batch),
                        sim.catalog[batch.fam][batch.proc],
                        sim.views.fmt,
                        sim.config.evaluation_fields,
                    )
        if body is None:
            return self.error(404, "NOT_FOUND", f"Batch '{bid}' not found.", version)
        return json_response(200, body)


def rate_limited(retry_after: int) -> Response:
    """429 with ``Retry-After`` and the documented ``RATE_LIMIT_EXCEEDED`` body."""
    body = {
        "code": "RATE_LIMIT_EXCEEDED",
        "message": "Too many requests. Please retry after the time given in the Retry-After header.",
        "retryable": True,
    }
    return json_response(429, body, [("Retry-After", str(retry_after))])
