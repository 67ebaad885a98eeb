"""Older state files load with every count kept: files of one workspace (version 1) as the first
configured workspace's section, and files written before OTHER was the one overflow spelling.

`data/state-v1-one-workspace.json` was written by the exporter of main at e64ac77 (state version 1,
one workspace, no ID): a simulator `SimConfig(seed=61, history=600, qps_limit=None)`, kinds
workflow_run and extract_run, `sync_overlap_seconds=60`, the simulator's clock, every kind synced at 0,
60 and 120 virtual seconds (`sim.advance(60)` between), then `exporter.stop()`.

`data/state-before-other.json` was written by the exporter at 2a401e4 (before the change) through
`StateStore.save`: workflow runs with per-resource labels capped at 1 and more undocumented statuses
than the cap (one of them literally `OTHER`), so the file holds status `UNKNOWN` and resource_id
`other` as overflow; and an extract run whose API status is literally `UNKNOWN`, a real value.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from exporter.api.apikey import ApiKeySource
from exporter.app import Exporter
from exporter.config import load_settings
from exporter.engine.kind_state import KindState, Observation, ResourceLabels
from exporter.factory import build_exporter
from exporter.kinds import KINDS
from exporter.statefile.store import StateStore
from exporter.statefile.upgrade import UNNAMED_SECTION, upgrade_kind
from extend_simulator import Organisation, SimConfig
from tests.exporter_process import parse_metrics
from tests.reliability.truth import counts_from_metrics, diff, truth_counts

OLD_FILE = Path(__file__).parent / "data" / "state-before-other.json"
V1_FILE = Path(__file__).parent / "data" / "state-v1-one-workspace.json"
OVERLAP = 60.0


def load_old(tmp_path: Path) -> dict[str, KindState]:
    path = tmp_path / "state.json"
    shutil.copy(OLD_FILE, path)
    states = {
        "workflow_run": KindState(KINDS["workflow_run"], ResourceLabels(enabled=True, max_values=1)),
        "extract_run": KindState(KINDS["extract_run"]),
    }
    assert StateStore(path, base_url="http://sim", api_version="2026-02-09").load({UNNAMED_SECTION: states})
    return states


def old_kind(kind: str) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(OLD_FILE.read_bytes())["kinds"][kind]
    return data


def test_old_overflow_spellings_read_as_other_with_every_count_kept(tmp_path: Path) -> None:
    wf = load_old(tmp_path)["workflow_run"]
    old = old_kind("workflow_run")
    assert sum(v for *_, v in old["finished"]) == sum(wf.finished.values()) == 12
    # The real status OTHER (1 run) and the overflow UNKNOWN (2 runs) meet under OTHER.
    assert wf.finished[("OTHER", "", "")] == 3
    assert ("UNKNOWN", "", "") not in wf.finished
    assert wf.durations[("OTHER", "")].count == 3
    assert sum(wf.durations[("OTHER", "")].buckets) == 3
    assert wf.finished_by_resource[("OTHER", "wf_0")] == 2  # OTHER 1 + UNKNOWN 1 on wf_0
    assert wf.finished_by_resource[("OTHER", "OTHER")] == 1  # UNKNOWN on an ID past the cap
    assert wf.finished_by_resource[("FAILED", "OTHER")] == 1  # a documented status, ID past the cap
    assert sum(wf.finished_by_resource.values()) == sum(v for *_, v in old["finished_by_resource"]) == 12
    labels = {k for key in (*wf.finished, *wf.finished_by_resource) for k in key}
    assert not labels & {"UNKNOWN", "other"}
    assert {wf.entries[r].status for r in ("wr_0", "wr_8", "wr_9")} == {"OTHER"}
    assert wf.entries["wr_8"].counted == ("OTHER",) and wf.entries["wr_8"].resource_id == "OTHER"
    assert wf.resource_names == {"wf_0": "Workflow 0"}


def test_runs_counted_before_the_upgrade_are_not_counted_again(tmp_path: Path) -> None:
    wf = load_old(tmp_path)["workflow_run"]
    before = dict(wf.finished)
    statuses = ["OTHER", *(f"NEW_{i}" for i in range(1, 10)), "PROCESSED", "FAILED"]
    same = [
        Observation(f"wr_{i}", s, 1001.0 + i, 1005.0 + 2 * i, resource=(f"wf_{i % 3}", f"Workflow {i % 3}"))
        for i, s in enumerate(statuses)
    ]
    assert wf.apply(same, {}, overlap=OVERLAP, new_position=1030.0).finished == 0
    assert wf.finished == before
    new = Observation("wr_new", "NEW_10", 1031.0, 1032.0, resource=("wf_2", "Workflow 2"))
    assert wf.apply([new], {}, overlap=OVERLAP, new_position=1032.0).finished == 1
    assert wf.finished[("OTHER", "", "")] == before[("OTHER", "", "")] + 1
    assert wf.finished_by_resource[("OTHER", "OTHER")] == 2


def test_a_real_unknown_status_and_the_unknown_source_stay(tmp_path: Path) -> None:
    ex = load_old(tmp_path)["extract_run"]
    assert ex.extra_statuses == {"UNKNOWN"}
    assert ex.finished[("UNKNOWN", "UNKNOWN", "EXTRACT")] == 1  # status and source as the API gave
    assert ex.entries["ex_1"].status == "UNKNOWN"


def test_the_upgrade_changes_nothing_in_a_file_written_since(tmp_path: Path) -> None:
    for state in load_old(tmp_path).values():
        data = state.to_dict()
        assert upgrade_kind(data) == data
        copy = KindState(state.spec, state.resource_labels)
        copy.load_dict(data)
        assert copy.snapshot() == state.snapshot()


V1_KINDS = ("workflow_run", "extract_run")


def v1_exporter(org: Organisation, state: Path, workspaces: str) -> Exporter:
    settings = load_settings(
        {
            "api_key": org.api_key,
            "api_base_url": org.url,
            "workspace_id": workspaces,
            "kinds": ",".join(V1_KINDS),
            "max_requests_per_second": 100,
            "sync_overlap_seconds": 60,
            "state_file": str(state),
        }
    )
    clock = org.workspaces["ws_prod"].now
    return build_exporter(settings, ApiKeySource(settings.api_key, None), clock=lambda: clock().timestamp())


@pytest.fixture
def org() -> Iterator[Organisation]:
    # ws_prod is the world the version 1 file was written against; ws_new another workspace.
    configs = {"ws_prod": SimConfig(seed=61, history=600), "ws_new": SimConfig(seed=62, history=300)}
    organisation = Organisation(configs, qps_limit=None)
    organisation.start()
    yield organisation
    organisation.stop()


def test_a_state_file_of_one_workspace_continues_as_the_first_of_several(
    org: Organisation, tmp_path: Path
) -> None:
    marks = {"ws_prod": org.workspaces["ws_prod"].mark()}  # where the old exporter began counting
    org.advance(60)
    org.advance(60)  # where its last sync was
    state = tmp_path / "state.json"
    old = orjson.loads(V1_FILE.read_bytes())
    assert old["version"] == 1 and set(old["kinds"]) == set(V1_KINDS)
    old["scope"]["base_url"] = org.url  # the file names the simulator it was written against
    state.write_bytes(orjson.dumps(old))
    exporter = v1_exporter(org, state, "ws_prod,ws_new")
    exporter.load_state()
    marks["ws_new"] = org.workspaces["ws_new"].mark()  # a new workspace begins counting now
    loaded = counts_from_metrics(
        parse_metrics(exporter.exposition.refresh().text.decode()), V1_KINDS, "ws_prod"
    )
    old_created = {
        (kind, src, ptype): n for kind in V1_KINDS for src, ptype, n in old["kinds"][kind]["created"]
    }
    assert loaded["created"] == {k: float(n) for k, n in old_created.items() if n} != {}  # before any sync
    try:
        for _ in range(2):
            for workspace in exporter.workspaces:
                assert all(exporter.sync_kind(kind, workspace) for kind in V1_KINDS)
            samples = parse_metrics(exporter.exposition.refresh().text.decode())
            for ws, mark in marks.items():
                ours = counts_from_metrics(samples, V1_KINDS, ws)
                assert not diff(ours, truth_counts(org.workspaces[ws], mark, V1_KINDS)), ws
            org.advance(60)
    finally:
        exporter.stop(deadline_seconds=5)
    written = orjson.loads(state.read_bytes())
    assert written["version"] == 2 and set(written["workspaces"]) == {"ws_prod", "ws_new"}
