"""The ``/_sim/`` control and truth endpoints (no auth, never counted as API requests).

=========================================  ==================================================================
``GET  /_sim/truth?since=<mark>``          created/finished/credits since the mark and current active counts
``POST /_sim/mark``                        ``{"mark": n}``
``POST /_sim/advance?seconds=<s>``         advance the virtual clock; ``{"now": ...}``
``GET  /_sim/now``                         ``{"now": ..., "elapsed": seconds since the epoch}``
``GET  /_sim/requests``                    ``{"requests": {template: n}, "by_code": [{path, code, count}]}``
``GET  /_sim/faults``                      current faults
``POST /_sim/faults``                      add faults: body is a fault object or a list (faults.Fault fields)
``DELETE /_sim/faults``                    clear all faults
``POST /_sim/revoke?key=`` / ``/_sim/restore?key=``  revoke / restore an API key
``POST /_sim/delete?id=<run id>``          delete a run
``POST /_sim/touch?id=<run id>``           non-status update (reviewed=true, updatedAt bumped)
``POST /_sim/qps?limit=<n|off>``           change the server-side QPS limit
``POST /_sim/rate?family=<f>&per_min=<r>`` change an arrival rate
``POST /_sim/spike?family=&start=&end=&rate=``  failure-rate spike (virtual seconds since the epoch)
``POST /_sim/batch?family=&size=[&hold=][&drain=][&legacy_source=]``  a batch now: ``{"id": ...}``
``GET  /_sim/batch?id=``                   ``{"id", "status", "members": {status: n}}``
``GET  /_sim/webhooks``                    webhook deliveries so far (events, faults, attempts, answers)
=========================================  ==================================================================
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import orjson

from .faults import Fault
from .response import Response, json_response
from .state import SimState
from .workload import FailureSpike


def handle_control(sim: SimState, method: str, path: str, query: str, body: bytes) -> Response:
    q = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    try:
        if path == "/_sim/truth" and method == "GET":
            return json_response(200, sim.truth.to_json(int(q.get("since", "0"))))
        if path == "/_sim/mark" and method == "POST":
            return json_response(200, {"mark": sim.mark()})
        if path == "/_sim/advance" and method == "POST":
            sim.advance(float(q.get("seconds", "0")))
            return json_response(200, {"now": sim.now().isoformat(), "elapsed": sim.virtual_elapsed()})
        if path == "/_sim/now" and method == "GET":
            return json_response(200, {"now": sim.now().isoformat(), "elapsed": sim.virtual_elapsed()})
        if path == "/_sim/requests" and method == "GET":
            by_code = [
                {"path": p, "code": c, "count": n}
                for (p, c), n in sorted(sim.truth.requests_by_code().items())
            ]
            return json_response(200, {"requests": sim.truth.requests(), "by_code": by_code})
        if path == "/_sim/faults":
            if method == "GET":
                return json_response(200, {"faults": [f.to_json() for f in sim.faults.list()]})
            if method == "DELETE":
                sim.clear_faults()
                return json_response(200, {"faults": []})
            if method == "POST":
                raw: Any = orjson.loads(body or b"[]")
                items = raw if isinstance(raw, list) else [raw]
                for item in items:
                    sim.faults.add(Fault.from_json(item))
                return json_response(200, {"faults": [f.to_json() for f in sim.faults.list()]})
        if path in ("/_sim/revoke", "/_sim/restore") and method == "POST":
            key = q.get("key") or sim.api_key
            (sim.revoke_key if path == "/_sim/revoke" else sim.restore_key)(key)
            return json_response(200, {"key": key, "revoked": path == "/_sim/revoke"})
        if path in ("/_sim/delete", "/_sim/touch") and method == "POST":
            rid = q.get("id", "")
            ok = sim.delete_run(rid) if path == "/_sim/delete" else sim.touch_run(rid)
            return json_response(200 if ok else 404, {"id": rid, "ok": ok})
        if path == "/_sim/qps" and method == "POST":
            raw_limit = q.get("limit", "off")
            sim.set_qps_limit(None if raw_limit in ("off", "", "0") else float(raw_limit))
            return json_response(200, {"qps_limit": sim.bucket.rate})
        if path == "/_sim/rate" and method == "POST":
            sim.set_rate(q["family"], float(q["per_min"]))
            return json_response(200, {"family": q["family"], "per_min": float(q["per_min"])})
        if path == "/_sim/batch":
            return _batch(sim, method, q)
        if path == "/_sim/webhooks" and method == "GET":
            if sim.webhooks is None:
                return json_response(404, {"error": "no webhook deliveries configured (--webhook-url)"})
            return json_response(200, sim.webhooks.stats())
        if path == "/_sim/spike" and method == "POST":
            spike = FailureSpike(q["family"], float(q["start"]), float(q["end"]), float(q.get("rate", "1")))
            sim.script(spike)
            return json_response(200, {"ok": True})
    except (KeyError, ValueError, TypeError) as exc:
        return json_response(400, {"error": f"bad control request: {exc}"})
    return json_response(404, {"error": f"unknown control endpoint {method} {path}"})


def _batch(sim: SimState, method: str, q: dict[str, str]) -> Response:
    if method == "POST":
        drain = q.get("drain")
        bid = sim.submit_batch(
            q["family"],
            int(q["size"]),
            hold_seconds=float(q.get("hold", "0")),
            drain_per_second=float(drain) if drain else None,
            legacy_source=q.get("legacy_source") or None,
        )
        return json_response(200, {"id": bid})
    status = sim.batch_status(q["id"])
    if status is None:
        return json_response(404, {"error": f"unknown batch {q['id']}"})
    return json_response(200, {"id": q["id"], "status": status, "members": sim.batch_members(q["id"])})
