"""The state file's edges: one writer per file, kinds not synced kept, a bad file kept aside, a
symlinked path followed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from exporter.engine.kind_state import KindState, Observation
from exporter.engine.observation import Detail
from exporter.kinds import KINDS
from exporter.statefile.store import StateLockedError, StateStore
from extend_simulator import SimConfig, Simulator
from tests.exporter_process import REPO, exporter_env, free_port
from tests.reliability.test_restarts import KINDS_RUN, start, wait_exact

API_VERSION = "2026-02-09"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    s = Simulator(SimConfig(seed=43, history=600, qps_limit=None))
    s.start(host="127.0.0.1", port=0)
    yield s
    s.stop()


def store(path: Path, url: str = "http://sim") -> StateStore:
    return StateStore(path, base_url=url, api_version=API_VERSION)


def states(*kinds: str) -> dict[str, KindState]:
    return {k: KindState(KINDS[k]) for k in kinds}


def kinds_in(path: Path, section: str) -> dict[str, Any]:
    """A workspace section's kinds, as the file holds them."""
    kinds: dict[str, Any] = orjson.loads(path.read_bytes())["workspaces"][section]["kinds"]
    return kinds


def test_a_second_exporter_on_the_same_file_exits_2_naming_the_holder_and_no_kind_is_lost(
    sim: Simulator, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    mark = sim.mark()
    with start(sim, state) as first:
        wait_exact(first, sim, mark)
        env = exporter_env(sim.url, sim.api_key, port=free_port(), kinds="extract_run", state_file=str(state))
        second = subprocess.run(
            [sys.executable, "-m", "exporter", "run"], env=env, cwd=REPO, capture_output=True, timeout=30
        )
        lines = second.stderr.decode().strip().splitlines()
        assert second.returncode == 2, second.stderr.decode()[-2000:]
        assert len(lines) == 1 and f"pid {first.proc.pid} on " in lines[0], lines
        assert "EXTEND_EXPORTER_STATE_FILE" in lines[0]
        sim.advance(30)
        wait_exact(first, sim, mark)
    # An exporter for one of the two kinds runs on the file in between: the other kind's section stays.
    sim.advance(30)
    with start(sim, state, EXTEND_EXPORTER_KINDS="workflow_run") as only_workflows:
        wait_exact(only_workflows, sim, mark, kinds=("workflow_run",))
    sim.advance(30)
    with start(sim, state) as again:  # both kinds continue from the file: no gap, no double count
        wait_exact(again, sim, mark)
        sim.advance(30)
        wait_exact(again, sim, mark)


def test_lock_names_the_holder_and_is_released_on_unlock(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    first = store(path)
    first.lock()
    with pytest.raises(StateLockedError, match=r"in use by another exporter \(pid \d+ on "):
        store(path).lock()
    first.unlock()
    store(path).lock()  # free again


def test_kinds_not_synced_are_written_back_untouched(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    both = states(*KINDS_RUN)
    both["extract_run"].position = 1234.5
    writer = store(path)
    assert writer.save({"ws_a": {k: s.to_dict() for k, s in both.items()}})
    extract_section = kinds_in(path, "ws_a")["extract_run"]
    one = store(path)
    assert one.load({"ws_a": states("workflow_run")})
    assert one.save({"ws_a": {"workflow_run": KindState(KINDS["workflow_run"]).to_dict()}})
    assert kinds_in(path, "ws_a")["extract_run"] == extract_section
    restored = states(*KINDS_RUN)
    assert store(path).load({"ws_a": restored}) and restored["extract_run"].position == 1234.5


def test_each_workspace_keeps_its_batches_and_a_section_without_them_starts_batches_afresh(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.json"
    a = {"since": 10.0, "batches": {}, "finished": [["parse_run", "FAILED", 2]], "durations": []}
    b = {"since": 20.0, "batches": {}, "finished": [["workflow_run", "PROCESSED", 1]], "durations": []}
    kinds = {k: s.to_dict() for k, s in states(*KINDS_RUN).items()}
    assert store(path).save({"ws_a": kinds, "ws_b": kinds}, {"ws_a": a, "ws_b": b})
    reader = store(path)
    assert reader.load({"ws_a": states(*KINDS_RUN), "ws_b": states(*KINDS_RUN)})
    assert (reader.batches("ws_a"), reader.batches("ws_b")) == (a, b)
    # ws_b polled alone now: ws_a's section, its batches included, is written back untouched.
    assert reader.save({"ws_b": kinds})
    again = store(path)
    assert again.load({"ws_a": states(*KINDS_RUN), "ws_c": states(*KINDS_RUN)})
    assert (again.batches("ws_a"), again.batches("ws_c")) == (a, None)


def test_a_one_workspace_file_with_batches_continues_them_in_its_section(tmp_path: Path) -> None:
    """Before there were workspace sections, the batches (issue 20) sat beside the kinds."""
    path = tmp_path / "state.json"
    batches = {"since": 10.0, "batches": {}, "finished": [["parse_run", "FAILED", 2]], "durations": []}
    kinds = {k: s.to_dict() for k, s in states(*KINDS_RUN).items()}
    scope = {"base_url": "http://sim", "api_version": API_VERSION}
    old = {
        "format": "extend-exporter-state",
        "version": 1,
        "scope": scope,
        "kinds": kinds,
        "batches": batches,
    }
    path.write_bytes(orjson.dumps(old))
    reader = store(path)
    assert reader.load({"ws_new": states(*KINDS_RUN)})  # the first workspace adopts the unnamed section
    assert reader.batches("ws_new") == batches


def test_a_bad_file_is_kept_aside_before_a_fresh_start(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    garbage = b'{"format": "extend-exporter-state", "version": 1, "scope": {'
    path.write_bytes(garbage)
    assert not store(path).load({"": states(*KINDS_RUN)})
    kept = list(tmp_path.glob("state.json.bad-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == garbage
    assert not path.exists()
    assert store(path).save({})  # the fresh start writes a new file next to the kept one
    assert path.exists() and kept[0].read_bytes() == garbage


def test_a_symlinked_state_path_writes_its_target(tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    volume.mkdir()
    target = volume / "real.json"
    link = tmp_path / "state.json"
    link.symlink_to(target)
    linked = store(link)
    linked.lock()
    assert linked.save({"": {k: s.to_dict() for k, s in states(*KINDS_RUN).items()}})
    assert link.is_symlink() and link.resolve() == target
    assert target.is_file() and store(target).load({"": states(*KINDS_RUN)})
    with pytest.raises(StateLockedError):  # the lock is the target's: the link and the target share it
        store(target).lock()
    linked.unlock()


def test_the_unnamed_section_goes_to_the_first_workspace_only_when_it_has_none(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    keyed = states("extract_run")
    keyed["extract_run"].position = 1.0
    assert store(path).save({"": {k: s.to_dict() for k, s in keyed.items()}})  # a workspace key's, no ID
    back = states("extract_run")
    assert store(path).load({"": back}) and back["extract_run"].position == 1.0
    # An organisation key with two IDs: the first takes the unnamed section over, the second starts fresh.
    first, second = states("extract_run"), states("extract_run")
    both = store(path)
    assert both.load({"ws_a": first, "ws_b": second})
    assert first["extract_run"].position == 1.0 and second["extract_run"].position is None
    second["extract_run"].position = 2.0
    assert both.save(
        {ws: {k: s.to_dict() for k, s in st.items()} for ws, st in (("ws_a", first), ("ws_b", second))}
    )
    assert set(orjson.loads(path.read_bytes())["workspaces"]) == {"ws_a", "ws_b"}
    # A first workspace with a section of its own leaves an unnamed one alone (written back as read).
    unnamed = store(path)
    assert unnamed.load({"": states("extract_run")})
    assert unnamed.save({"": {k: s.to_dict() for k, s in keyed.items()}})
    again = states("extract_run")
    mixed = store(path)
    assert mixed.load({"ws_b": again}) and again["extract_run"].position == 2.0
    assert mixed.save({"ws_b": {k: s.to_dict() for k, s in again.items()}})
    assert set(orjson.loads(path.read_bytes())["workspaces"]) == {"", "ws_a", "ws_b"}


def _failed_once(run_id: str) -> KindState:
    """extract_run after a baseline and one sync that saw `run_id` FAILED (an exemplar's run)."""
    state = KindState(KINDS["extract_run"])
    state.apply([], {}, overlap=60.0, new_position=1000.0, baseline=True)
    failed = Observation(
        run_id,
        "FAILED",
        1001.0,
        1005.0,
        processor_type="EXTRACT",
        detail=Detail(failure_reason="INTERNAL_ERROR"),
    )
    state.apply([failed], {run_id: "API"}, overlap=60.0, new_position=1010.0)
    return state


def test_each_workspace_section_keeps_its_own_example_runs(tmp_path: Path) -> None:
    """The exemplars' runs live in the kind's state, so in its workspace's section: a restart keeps each
    workspace's own, not one workspace's for all."""
    path = tmp_path / "state.json"
    written = {
        "ws_a": _failed_once("exr_aaaaaaaaaaaaaaaaaaaaa"),
        "ws_b": _failed_once("exr_bbbbbbbbbbbbbbbbbbbbb"),
    }
    assert store(path).save({ws: {"extract_run": s.to_dict()} for ws, s in written.items()})
    restored = {ws: {"extract_run": KindState(KINDS["extract_run"])} for ws in written}
    assert store(path).load(restored)
    for ws, state in written.items():
        examples = restored[ws]["extract_run"].snapshot().examples
        assert examples == state.snapshot().examples
        run_ids = {ex[0] for rows in examples.values() for ex in rows.values()}
        assert run_ids == {f"exr_{ws[-1] * 21}"}, (ws, examples)
