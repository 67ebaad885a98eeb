"""Several workspaces behind one organisation key: the header is required, unknown IDs are refused,
one rate limit covers them all, and one workspace's access can be taken away mid-test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from extend_simulator import Organisation, SimConfig

from .sim_client import V_NEW, V_OLD

WORKSPACES = ("ws_dev", "ws_prod")


@pytest.fixture
def org() -> Iterator[Organisation]:
    configs = {ws: SimConfig(seed=i + 1, history=200) for i, ws in enumerate(WORKSPACES)}
    organisation = Organisation(configs, qps_limit=None)
    organisation.start()
    yield organisation
    organisation.stop()


def get(
    org: Organisation, workspace: str | None, path: str = "/extract_runs", **extra: str
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {org.api_key}", "x-extend-api-version": V_NEW, **extra}
    if workspace is not None:
        headers["x-extend-workspace-id"] = workspace
    return httpx.get(f"{org.url}{path}", headers=headers, params={"maxPageSize": 1000}, timeout=10)


def run_ids(response: httpx.Response) -> set[str]:
    return {run["id"] for run in response.json()["data"]}


def test_each_workspace_answers_with_its_own_runs(org: Organisation) -> None:
    dev, prod = get(org, "ws_dev"), get(org, "ws_prod")
    assert dev.status_code == prod.status_code == 200
    assert run_ids(dev) and run_ids(prod) and not run_ids(dev) & run_ids(prod)
    truth = {ws: sum(org.workspaces[ws].truth.requests().values()) for ws in WORKSPACES}
    assert truth == {"ws_dev": 1, "ws_prod": 1}  # each workspace counts what it was sent


def test_the_header_is_required_and_unknown_ids_are_refused(org: Organisation) -> None:
    missing = get(org, None)
    assert missing.status_code == 401 and "x-extend-workspace-id" in missing.json()["message"]
    unknown = get(org, "ws_elsewhere")
    assert unknown.status_code == 401 and unknown.json()["code"] == "UNAUTHORIZED"
    legacy = get(org, "ws_elsewhere", "/workflow_runs", **{"x-extend-api-version": V_OLD})
    assert legacy.status_code == 401 and legacy.json()["success"] is False  # the version's error shape
    wrong_key = get(org, "ws_dev", Authorization="Bearer sk_not_the_org_key")
    assert wrong_key.status_code == 401
    assert org.requests[("", "/extract_runs", 401)] == 2  # refused before any workspace saw them


def test_one_rate_limit_for_the_whole_organisation(org: Organisation) -> None:
    org.set_qps_limit(0.2, burst=2)  # two at once, then one every 5 s whichever workspace asks
    codes = [get(org, ws).status_code for ws in ("ws_dev", "ws_prod", "ws_prod")]
    assert codes == [200, 200, 429]
    limited = get(org, "ws_dev")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["code"] == "RATE_LIMIT_EXCEEDED" and limited.json()["retryable"] is True


@pytest.mark.parametrize(("status", "code"), [(403, "FORBIDDEN"), (404, "NOT_FOUND"), (401, "UNAUTHORIZED")])
def test_one_workspace_loses_access_and_gets_it_back(org: Organisation, status: int, code: str) -> None:
    org.deny("ws_prod", status)
    refused = get(org, "ws_prod")
    assert refused.status_code == status and refused.json()["code"] == code
    assert get(org, "ws_dev").status_code == 200  # the other workspace is untouched
    assert org.workspaces["ws_prod"].truth.requests_by_code()[("/extract_runs", status)] == 1
    org.allow("ws_prod")
    assert get(org, "ws_prod").status_code == 200


def test_control_endpoints(org: Organisation) -> None:
    with httpx.Client(base_url=org.url, timeout=10) as c:
        assert c.get("/_sim/org").json()["workspaces"] == list(WORKSPACES)
        assert c.post("/_sim/org/deny", params={"workspace": "ws_dev", "status": "403"}).status_code == 200
        assert get(org, "ws_dev").status_code == 403
        assert c.post("/_sim/org/allow", params={"workspace": "ws_dev"}).status_code == 200
        before = org.workspaces["ws_prod"].virtual_elapsed()
        assert c.post("/_sim/org/advance", params={"seconds": "60"}).status_code == 200
        assert org.workspaces["ws_prod"].virtual_elapsed() == before + 60
        # Any other /_sim/ path is the named workspace's own.
        mark = c.post("/_sim/mark", params={"workspace": "ws_prod"}).json()["mark"]
        assert c.get("/_sim/truth", params={"workspace": "ws_prod", "since": mark}).status_code == 200
        assert c.post("/_sim/org/qps", params={"limit": "5"}).json()["qps_limit"] == 5.0
        assert c.post("/_sim/org/deny", params={"workspace": "ws_dev", "status": "500"}).status_code == 400
