"""Cursor semantics: the moving-run case under offset, keyset and snapshot modes."""

from __future__ import annotations

from typing import Any

from extend_simulator import Simulator

from .conftest import MakeSim
from .sim_client import client, list_all

NO_ARRIVALS = {"workflow": 0.0, "extract": 0.0, "classify": 0.0, "split": 0.0, "parse": 0.0, "edit": 0.0}


def _quiet(make_sim: MakeSim, mode: str) -> Simulator:
    s = make_sim(seed=21, history=300, cursor_mode=mode, rates=dict(NO_ARRIVALS))
    s.advance(5)
    return s


def _page_through_with_move(s: Simulator, move_pos: int) -> tuple[list[str], list[dict[str, Any]], str]:
    """List /extract_runs 10 per page; after page 1, touch the run at ``move_pos`` of the original order."""
    with client(s) as c:
        before = list_all(c, "/extract_runs")
        moved = before[move_pos]["id"]
        seen: list[str] = []
        r = c.get("/extract_runs", params={"maxPageSize": 10}).json()
        seen += [x["id"] for x in r["data"]]
        s.advance(1)
        assert s.touch_run(moved)
        while "nextPageToken" in r:
            r = c.get("/extract_runs", params={"maxPageSize": 10, "nextPageToken": r["nextPageToken"]}).json()
            seen += [x["id"] for x in r["data"]]
    return seen, before, moved


def test_offset_mode_misses_moved_run_and_duplicates_another(make_sim: MakeSim) -> None:
    s = _quiet(make_sim, "offset")
    seen, before, moved = _page_through_with_move(s, 25)
    assert moved not in seen  # missed in this listing
    dupes = {i for i in seen if seen.count(i) > 1}
    assert dupes == {before[9]["id"]}  # the last item of page 1 shifted onto page 2
    assert set(seen) == {x["id"] for x in before} - {moved}
    # the next listing sees it at the top
    with client(s) as c:
        assert list_all(c, "/extract_runs")[0]["id"] == moved


def test_keyset_mode_misses_moved_run_without_duplicates(make_sim: MakeSim) -> None:
    s = _quiet(make_sim, "keyset")
    seen, before, moved = _page_through_with_move(s, 25)
    assert moved not in seen
    assert len(seen) == len(set(seen)) == len(before) - 1


def test_snapshot_mode_is_consistent(make_sim: MakeSim) -> None:
    s = _quiet(make_sim, "snapshot")
    seen, before, _ = _page_through_with_move(s, 25)
    assert seen == [x["id"] for x in before]
    # frozen content too: the moved run still shows its old updatedAt within the snapshot listing
    with client(s) as c:
        r = c.get("/extract_runs", params={"maxPageSize": 30}).json()
        s.advance(1)
        victim = r["data"][5]["id"]
        other = before[40]["id"]
        assert s.touch_run(other) and s.delete_run(victim)
        r2 = c.get("/extract_runs", params={"maxPageSize": 30, "nextPageToken": r["nextPageToken"]}).json()
        old = next(x for x in before if x["id"] == other)
        again = next(x for x in r2["data"] if x["id"] == other)
        assert again["updatedAt"] == old["updatedAt"] and again["reviewed"] == old["reviewed"]
        assert all(x["id"] != victim for x in list_all(c, "/extract_runs"))


def test_snapshot_token_expiry(make_sim: MakeSim) -> None:
    s = make_sim(seed=4, history=200, cursor_mode="snapshot", snapshot_limit=2)
    with client(s) as c:
        first = c.get("/extract_runs").json()["nextPageToken"]
        c.get("/extract_runs")
        c.get("/extract_runs")
        r = c.get("/extract_runs", params={"nextPageToken": first})
        assert r.status_code == 400 and r.json()["code"] == "INVALID_REQUEST"


def test_offset_mode_with_predicate_filters_pages_consistently(make_sim: MakeSim) -> None:
    s = _quiet(make_sim, "offset")
    with client(s) as c:
        whole = [x["id"] for x in list_all(c, "/processor_runs", {"fileNameContains": "e"})]
        paged: list[str] = []
        params: dict[str, Any] = {"fileNameContains": "e", "maxPageSize": 9}
        while True:
            r = c.get("/processor_runs", params=params).json()
            paged += [x["id"] for x in r["processorRuns"]]
            if r["nextPageToken"] is None:
                break
            params["nextPageToken"] = r["nextPageToken"]
    assert paged == whole and len(whole) > 9
