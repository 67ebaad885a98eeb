"""Fault injection, the QPS limit and request accounting."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from extend_simulator import Fault, Simulator

from .conftest import MakeSim
from .sim_client import V_NEW, V_OLD, client


def test_connection_reset_raises(sim: Simulator) -> None:
    sim.set_faults(Fault("reset", times=1))
    with client(sim) as c:
        with pytest.raises(httpx.TransportError):
            c.get("/extract_runs")
        assert c.get("/extract_runs").status_code == 200
    assert sim.truth.requests_by_code()[("/extract_runs", 0)] == 1


def test_short_read_raises(sim: Simulator) -> None:
    sim.set_faults(Fault("short_read", times=1))
    with client(sim) as c:
        with pytest.raises(httpx.TransportError):
            c.get("/extract_runs", params={"maxPageSize": 50})
        assert c.get("/extract_runs").status_code == 200


def test_malformed_and_truncated_bodies(sim: Simulator) -> None:
    with client(sim) as c:
        sim.set_faults(Fault("malformed_json", times=1))
        r = c.get("/extract_runs")
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        with pytest.raises(json.JSONDecodeError):
            json.loads(r.text)
        sim.set_faults(Fault("truncated_body", times=1))
        r = c.get("/workflow_runs", params={"maxPageSize": 20})
        assert r.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(r.text)
        sim.set_faults(Fault("truncated_envelope", times=3))
        assert set(c.get("/extract_runs").json()) == {"object", "nextPageToken"}
        body = c.get("/processor_runs").json()
        assert "processorRuns" not in body and body["success"] is True
        body = c.get("/workflow_runs", headers={"x-extend-api-version": V_OLD}).json()
        assert "workflowRuns" not in body
        assert "data" in c.get("/extract_runs").json()


def test_error_faults(sim: Simulator) -> None:
    with client(sim) as c:
        sim.set_faults(Fault("rate_limit", times=1, retry_after=7))
        r = c.get("/extract_runs")
        assert r.status_code == 429 and r.headers["retry-after"] == "7"
        assert r.json() == {
            "code": "RATE_LIMIT_EXCEEDED",
            "message": r.json()["message"],
            "retryable": True,
        }
        sim.set_faults(Fault("http_500", times=2))
        r = c.get("/extract_runs")
        assert r.status_code == 500 and r.json()["code"] == "INTERNAL_ERROR" and r.json()["retryable"] is True
        r = c.get("/processor_runs", headers={"x-extend-api-version": V_OLD})
        assert r.status_code == 500 and r.json()["success"] is False
        sim.set_faults(Fault("http_502", times=1), Fault("http_503", times=1, retry_after=3))
        r = c.get("/extract_runs")
        assert r.status_code == 502 and r.headers["content-type"].startswith("text/html")
        r = c.get("/extract_runs")
        assert r.status_code == 503 and r.headers["retry-after"] == "3"
        sim.set_faults(
            Fault("usage_blocked", times=1), Fault("forbidden", times=1), Fault("unauthorized", times=1)
        )
        r = c.get("/extract_runs")
        assert r.status_code == 402 and r.json()["code"] == "USAGE_BLOCKED"
        r = c.get("/extract_runs")
        assert r.status_code == 403 and r.json()["code"] == "FORBIDDEN"
        r = c.get("/extract_runs")
        assert r.status_code == 401 and r.json()["code"] == "UNAUTHORIZED"
        assert c.get("/extract_runs").status_code == 200


def test_slow_fault_adds_latency(sim: Simulator) -> None:
    sim.set_faults(Fault("slow", times=1, delay=0.3))
    with client(sim) as c:
        t0 = time.monotonic()
        assert c.get("/extract_runs").status_code == 200
        assert time.monotonic() - t0 >= 0.3


def test_fault_endpoint_scope_and_virtual_window(sim: Simulator) -> None:
    t0 = sim.virtual_elapsed()
    sim.set_faults(
        Fault("http_500", rate=1.0, endpoints=frozenset({"/parse_runs"}), start=t0 + 60, end=t0 + 120)
    )
    with client(sim) as c:
        assert c.get("/parse_runs").status_code == 200
        sim.advance(60)
        assert c.get("/parse_runs").status_code == 500
        assert c.get("/extract_runs").status_code == 200
        sim.advance(60)
        assert c.get("/parse_runs").status_code == 200
    sim.clear_faults()


def _fault_pattern(make_sim: MakeSim, seed: int) -> list[int]:
    s = make_sim(seed=seed, history=50)
    s.set_faults(Fault("http_500", rate=0.3), Fault("rate_limit", rate=0.2))
    with client(s) as c:
        return [c.get("/extract_runs").status_code for _ in range(40)]


def test_rate_based_faults_are_deterministic(make_sim: MakeSim) -> None:
    a, b, other = _fault_pattern(make_sim, 9), _fault_pattern(make_sim, 9), _fault_pattern(make_sim, 10)
    assert a == b and a != other
    assert {500, 429, 200} <= set(a)


def test_qps_limit_answers_429_with_retry_after(make_sim: MakeSim) -> None:
    s = make_sim(seed=1, history=50, qps_limit=5.0)
    with client(s) as c:
        codes = [c.get("/extract_runs", params={"maxPageSize": 1}) for _ in range(20)]
        limited = [r for r in codes if r.status_code == 429]
        assert limited and all(int(r.headers["retry-after"]) >= 1 for r in limited)
        assert limited[0].json()["code"] == "RATE_LIMIT_EXCEEDED"
        # control endpoints are neither limited nor counted
        assert c.get("/_sim/requests").status_code == 200

        def recovered() -> bool:
            return c.get("/extract_runs", params={"maxPageSize": 1}).status_code == 200

        deadline = time.monotonic() + 3
        while not recovered():
            assert time.monotonic() < deadline
            time.sleep(0.05)
    counts = s.truth.requests_by_code()
    assert counts[("/extract_runs", 429)] >= len(limited)
    assert (
        sum(n for (p, _), n in counts.items() if p == "/extract_runs") == s.truth.requests()["/extract_runs"]
    )
    assert not any(p.startswith("/_sim") for p in s.truth.requests())


def test_request_accounting_and_control_faults_api(sim: Simulator) -> None:
    with client(sim) as c:
        r = c.post("/_sim/faults", json=[{"kind": "http_500", "times": 1, "endpoints": ["/split_runs"]}])
        assert r.status_code == 200 and r.json()["faults"][0]["kind"] == "http_500"
        assert c.get("/split_runs").status_code == 500
        assert c.get("/split_runs").status_code == 200
        bid = sim.batch_ids("split")[0]
        assert c.get(f"/batch_runs/{bid}").status_code == 200
        assert c.get("/batch_runs/bpr_x", headers={"x-extend-api-version": V_NEW}).status_code == 404
        assert c.delete("/_sim/faults").json() == {"faults": []}
        reqs = c.get("/_sim/requests").json()
    assert reqs["requests"] == sim.truth.requests()
    assert reqs["requests"]["/split_runs"] == 2 and reqs["requests"]["/batch_runs/{id}"] == 2
    assert {"path": "/split_runs", "code": 500, "count": 1} in reqs["by_code"]
    assert sim.truth.requests_by_code()[("/batch_runs/{id}", 404)] == 1
