"""One exporter process, three workspaces of one organisation (each its own workload) on the simulator:

- every run count is exact per `workspace` label;
- halfway, one workspace loses access (403): only its `extend_up` drops, its failure is logged once,
  readiness names it alone, the others stay exact; when access is back it catches up exactly;
- a Retry-After one workspace gets holds every workspace's requests;
- a restart with the state file keeps every workspace's counts, also when a workspace is left out
  of `EXTEND_WORKSPACE_ID` for a while and then comes back;
- the request rate at the simulator stays within the budget: at most budget + burst in any 1 s,
  at most the budget on average over any 10 s (per exporter process: a restart is a new budget).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from extend_simulator import Fault, Organisation, SimConfig
from tests.exporter_process import ExporterProcess, series, start_exporter, wait_until
from tests.reliability.request_log import Request, RequestLog, max_in_window
from tests.reliability.truth import counts_from_metrics, diff, metrics, truth_counts

KINDS = ("workflow_run", "extract_run")
BUDGET = 20  # requests per second; the burst is one second's worth
QUIET, STEADY, BUSY = "ws_quiet", "ws_steady", "ws_busy"
WORKSPACES = (QUIET, STEADY, BUSY)


@pytest.fixture
def org() -> Iterator[Organisation]:
    configs = {
        QUIET: SimConfig(seed=51, history=300, rates={}),  # no new runs at all
        STEADY: SimConfig(seed=52, history=500),
        BUSY: SimConfig(seed=53, history=800, rates={"workflow": 60.0, "extract": 120.0}),
    }
    organisation = Organisation(configs, qps_limit=None)  # the exporter's own budget is under test
    organisation.start()
    yield organisation
    organisation.stop()


def start(org: Organisation, state: Path, workspaces: Sequence[str]) -> ExporterProcess:
    env = {
        "EXTEND_WORKSPACE_ID": ",".join(workspaces),
        "EXTEND_EXPORTER_MAX_REQUESTS_PER_SECOND": str(BUDGET),
        "EXTEND_EXPORTER_SYNC_OVERLAP_SECONDS": "5",
        "EXTEND_EXPORTER_PAGE_SIZE": "100",
        "EXTEND_EXPORTER_LOG_LEVEL": "info",
    }
    kinds = ",".join(KINDS)
    return start_exporter(
        org.url, org.api_key, kinds=kinds, poll_interval=0.25, state_file=str(state), extra_env=env
    )


def up(proc: ExporterProcess, workspace: str) -> dict[str, float]:
    return {dict(k)["kind"]: v for k, v in series(metrics(proc), "extend_up", workspace=workspace).items()}


def wait_exact(
    proc: ExporterProcess, org: Organisation, marks: dict[str, int], workspaces: Sequence[str]
) -> None:
    """Until every workspace's counts on /metrics equal its truth and all its kinds are up."""

    def wrong() -> dict[str, object]:
        samples = metrics(proc)
        out: dict[str, object] = {}
        for ws in workspaces:
            found = diff(
                counts_from_metrics(samples, KINDS, ws), truth_counts(org.workspaces[ws], marks[ws], KINDS)
            )
            ups = {dict(k)["kind"]: v for k, v in series(samples, "extend_up", workspace=ws).items()}
            if found or ups != dict.fromkeys(KINDS, 1.0):
                out[ws] = found or ups
        return out

    try:
        wait_until(lambda: not wrong(), timeout=45, interval=0.2, message="exact counts per workspace")
    except AssertionError:
        raise AssertionError(f"{wrong()}\n{proc.logs()[-3000:]}") from None


def test_three_workspaces_exact_isolated_restartable_and_within_budget(
    org: Organisation, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    log = RequestLog(org)
    marks = {ws: sim.mark() for ws, sim in org.workspaces.items()}
    lifetimes: list[tuple[int, int]] = []  # request log indices of each exporter process
    begun = log.mark()
    proc = start(org, state, WORKSPACES)
    try:
        wait_exact(proc, org, marks, WORKSPACES)
        org.advance(20)
        wait_exact(proc, org, marks, WORKSPACES)

        # Halfway, the key loses access to one workspace: only that one's syncs fail.
        frozen = counts_from_metrics(metrics(proc), KINDS, STEADY)
        org.deny(STEADY, 403)
        org.advance(20)
        wait_until(
            lambda: up(proc, STEADY) == dict.fromkeys(KINDS, 0.0), timeout=20, message="ws_steady down"
        )
        wait_exact(proc, org, marks, (QUIET, BUSY))
        assert counts_from_metrics(metrics(proc), KINDS, STEADY) == frozen  # kept, not reset
        problems = proc.get("/readyz").text
        assert f"{STEADY}/" in problems and QUIET not in problems and BUSY not in problems, problems
        errors = [line for line in proc.logs().splitlines() if " ERROR " in line]
        assert len(errors) == 1 and STEADY in errors[0] and "forbidden" in errors[0], errors

        # A Retry-After one workspace gets holds every workspace: the organisation's limit is shared.
        org.workspaces[BUSY].add_fault(Fault("rate_limit", times=1, retry_after=2))
        org.advance(20)
        limited = wait_until(
            lambda: [r for r in log.since(begun) if r.code == 429], timeout=20, message="429"
        )
        wait_exact(proc, org, marks, (QUIET, BUSY))
        held = [r for r in log.since(begun) if limited[0].at + 0.25 < r.at < limited[0].at + 1.9]
        assert not held, f"requests during the Retry-After hold: {held}"

        org.allow(STEADY)  # access is back: it catches up, exactly
        org.advance(10)
        wait_exact(proc, org, marks, WORKSPACES)
        # The budget is saturated (idle syncs alone ask for more): let it run past one 10 s window.
        wait_until(lambda: lived(log.since(begun)) > 11, timeout=15, message="11 s of requests")

        # Restarts: with a workspace left out (the others continue), then with it back (it continues).
        for workspaces in ((QUIET, BUSY), WORKSPACES):
            proc.stop()
            lifetimes.append((begun, log.mark()))
            org.advance(20)  # runs start and finish while no exporter watches
            begun = log.mark()
            proc = start(org, state, workspaces)
            wait_exact(proc, org, marks, workspaces)
            assert all(dict(k).get("workspace") in workspaces for k in series(metrics(proc), "extend_up"))
        org.advance(20)
        wait_exact(proc, org, marks, WORKSPACES)
    finally:
        proc.stop()
    lifetimes.append((begun, log.mark()))
    assert_within_budget([log.requests[a:b] for a, b in lifetimes])


def lived(requests: list[Request]) -> float:
    return requests[-1].at - requests[0].at if requests else 0.0


def assert_within_budget(lives: list[list[Request]]) -> None:
    assert lived(lives[0]) > 11 and len(lives[0]) > 10 * BUDGET  # a saturated budget, over 10 s
    for requests in lives:
        assert requests
        assert max_in_window(requests, 1.0, half_open=True) <= 2 * BUDGET  # budget + burst
        assert max_in_window(requests, 10.0, half_open=True) <= 10 * BUDGET  # the budget on average


def test_check_reports_each_workspace_and_names_the_one_without_access(org: Organisation) -> None:
    from tests.test_cli import run_cli

    org.deny(STEADY, 403)
    env = {
        "EXTEND_API_KEY": org.api_key,
        "EXTEND_API_BASE_URL": org.url,
        "EXTEND_WORKSPACE_ID": ",".join(WORKSPACES),
        "EXTEND_EXPORTER_KINDS": ",".join(KINDS),
    }
    result = run_cli("check", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert rows[0][:2] == ["WORKSPACE", "KIND"]
    # Every kind of the first workspace; one request for each other workspace's access.
    assert [(r[0], r[1]) for r in rows[1:]] == [(QUIET, k) for k in KINDS] + [
        (STEADY, KINDS[0]),
        (BUSY, KINDS[0]),
    ]
    assert "FAILED (forbidden)" in " ".join(rows[3]) and all(
        "ok" in " ".join(r) for r in rows[1:] if r[0] != STEADY
    )
    # The cause is said once, below the table, naming the workspace and kind.
    assert result.stderr.startswith(f"extend-exporter check: FAILED {STEADY} {KINDS[0]}: ")
    assert (result.stdout + result.stderr).count("HTTP 403") == 1, result.stdout + result.stderr
