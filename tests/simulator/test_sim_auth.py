"""Auth, version and workspace headers."""

from __future__ import annotations

import httpx

from extend_simulator import KeyRevocation, Simulator

from .conftest import MakeSim
from .sim_client import V_NEW, V_OLD, client


def _get(s: Simulator, headers: dict[str, str], path: str = "/processor_runs") -> httpx.Response:
    with httpx.Client(base_url=s.url, timeout=10) as c:
        return c.get(path, headers=headers)


def test_missing_and_wrong_key_give_401_with_version_body(sim: Simulator) -> None:
    r = _get(sim, {"x-extend-api-version": V_NEW})
    assert r.status_code == 401
    body = r.json()
    assert (
        body["code"] == "UNAUTHORIZED" and body["retryable"] is False and body["requestId"].startswith("req_")
    )
    assert set(body) == {"code", "message", "retryable", "requestId"}
    r = _get(sim, {"x-extend-api-version": V_OLD, "Authorization": "Bearer sk_wrong"})
    assert r.status_code == 401 and r.json()["success"] is False and isinstance(r.json()["error"], str)
    r = _get(sim, {"x-extend-api-version": V_NEW, "Authorization": f"Basic {sim.api_key}"})
    assert r.status_code == 401


def test_version_header_required_and_validated(sim: Simulator) -> None:
    auth = {"Authorization": f"Bearer {sim.api_key}"}
    r = _get(sim, auth)
    assert r.status_code == 400 and r.json()["code"] == "INVALID_REQUEST"
    r = _get(sim, {**auth, "x-extend-api-version": "2099-01-01"})
    assert r.status_code == 400 and "2099-01-01" in r.json()["message"]
    # the oldest legacy version is answered with the legacy shapes
    r = _get(sim, {**auth, "x-extend-api-version": "2024-12-23"}, "/workflow_runs")
    assert r.status_code == 200 and "workflowRuns" in r.json()


def test_revocation_and_restore(sim: Simulator) -> None:
    with client(sim) as c:
        assert c.get("/extract_runs").status_code == 200
        sim.revoke_key(sim.api_key)
        r = c.get("/extract_runs")
        assert r.status_code == 401 and r.json()["code"] == "UNAUTHORIZED"
        r = c.get("/processor_runs", headers={"x-extend-api-version": V_OLD})
        assert r.status_code == 401 and r.json()["success"] is False
        sim.restore_key(sim.api_key)
        assert c.get("/extract_runs").status_code == 200
        # the same over the control API
        assert c.post("/_sim/revoke", params={"key": sim.api_key}).status_code == 200
        assert c.get("/extract_runs").status_code == 401
        assert c.post("/_sim/restore", params={"key": sim.api_key}).status_code == 200
        assert c.get("/extract_runs").status_code == 200


def test_scripted_revocation_window(sim: Simulator) -> None:
    t0 = sim.virtual_elapsed()
    sim.script(KeyRevocation(sim.api_key, at=t0 + 10, until=t0 + 20))
    with client(sim) as c:
        assert c.get("/extract_runs").status_code == 200
        sim.advance(10)
        assert c.get("/extract_runs").status_code == 401
        sim.advance(10)
        assert c.get("/extract_runs").status_code == 200


def test_org_scoped_key_requires_workspace_header(make_sim: MakeSim) -> None:
    s = make_sim(
        seed=1, keys={"sk_ws": {"org_scoped": False}, "sk_org": {"org_scoped": True}}, workspace_id="ws_A"
    )
    assert s.api_key == "sk_ws"
    org = {"Authorization": "Bearer sk_org", "x-extend-api-version": V_NEW}
    r = _get(s, org, "/extract_runs")
    assert r.status_code == 401 and r.json()["code"] == "UNAUTHORIZED" and "workspace" in r.json()["message"]
    assert _get(s, {**org, "x-extend-workspace-id": "ws_B"}, "/extract_runs").status_code == 401
    assert _get(s, {**org, "x-extend-workspace-id": "ws_A"}, "/extract_runs").status_code == 200
    bid = s.batch_ids("extract")[0]
    assert _get(s, org, f"/batch_runs/{bid}").status_code == 401
    assert _get(s, {**org, "x-extend-workspace-id": "ws_A"}, f"/batch_runs/{bid}").status_code == 200
    ws = {"Authorization": "Bearer sk_ws", "x-extend-api-version": V_NEW}
    assert _get(s, ws, "/extract_runs").status_code == 200
    assert _get(s, {**ws, "x-extend-workspace-id": "ws_A"}, "/extract_runs").status_code == 200
    assert _get(s, {**ws, "x-extend-workspace-id": "ws_B"}, "/extract_runs").status_code == 401
