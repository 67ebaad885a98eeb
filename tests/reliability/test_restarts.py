"""Restarts: kill -9 mid-sync, torn writes, and state files that are corrupt, foreign or unwritable."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from exporter.engine.kind_state import KindState
from exporter.kinds import KINDS
from exporter.statefile.store import FORMAT, VERSION, StateStore
from extend_simulator import Fault, SimConfig, Simulator
from tests.exporter_process import ExporterProcess, series, start_exporter, wait_until
from tests.reliability.request_log import RequestLog
from tests.reliability.truth import counts_from_metrics, diff, every_kind_up_is, metrics, truth_counts

KINDS_RUN = ("workflow_run", "extract_run")
ENV = {"EXTEND_EXPORTER_SYNC_OVERLAP_SECONDS": "5", "EXTEND_EXPORTER_PAGE_SIZE": "100"}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    s = Simulator(SimConfig(seed=41, history=800, qps_limit=None))
    s.start(host="127.0.0.1", port=0)
    yield s
    s.stop()


def start(sim: Simulator, state: Path, **env: str) -> ExporterProcess:
    return start_exporter(
        sim.url,
        sim.api_key,
        kinds=",".join(KINDS_RUN),
        poll_interval=0.2,
        state_file=str(state),
        extra_env={**ENV, "EXTEND_EXPORTER_LOG_LEVEL": "info", **env},
    )


def wait_exact(
    proc: ExporterProcess, sim: Simulator, mark: int, timeout: float = 30, kinds: tuple[str, ...] = KINDS_RUN
) -> None:
    def ok() -> bool:
        ours = counts_from_metrics(metrics(proc), kinds)
        return every_kind_up_is(proc, kinds, 1.0) and not diff(ours, truth_counts(sim, mark, kinds))

    try:
        wait_until(ok, timeout=timeout, interval=0.1, message="counts equal to truth")
    except AssertionError:
        ours = counts_from_metrics(metrics(proc), kinds)
        raise AssertionError(f"{diff(ours, truth_counts(sim, mark, kinds))}\n{proc.logs()[-3000:]}") from None


def loads(state: Path, sim: Simulator) -> bool:
    store = StateStore(state, base_url=sim.url, api_version="2026-02-09")
    return store.load({"": {k: KindState(KINDS[k]) for k in KINDS_RUN}})


def in_flight(log: RequestLog, since: int) -> bool:
    return len(log.since(since)) >= 1


def test_kill_9_mid_sync_neither_doubles_nor_gaps(sim: Simulator, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    log = RequestLog(sim)
    mark = sim.mark()
    proc = start(sim, state)
    try:
        wait_exact(proc, sim, mark)
        for _ in range(3):
            sim.advance(60)
            sim.set_faults(Fault("slow", rate=1.0, delay=2.0))  # the next request hangs: a sync in flight
            before = log.mark()
            wait_until(partial(in_flight, log, before), timeout=10, message="a request in flight")
            proc.stop(signal.SIGKILL)
            assert proc.proc.returncode == -signal.SIGKILL
            sim.clear_faults()
            assert loads(state, sim), "the state file is not intact after kill -9"
            sim.advance(30)  # runs finish while nobody watches
            proc = start(sim, state)
            wait_exact(proc, sim, mark)
    finally:
        proc.stop()


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from exporter.engine.kind_state import KindState
    from exporter.engine.ledger import Entry
    from exporter.kinds import KINDS
    from exporter.statefile.store import StateStore

    store = StateStore(Path(sys.argv[1]), base_url="http://x", api_version="2026-02-09")
    state = KindState(KINDS["extract_run"])
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        for i in range(200):
            state.entries[f"r{n}_{i}"] = Entry("PROCESSED", "API", "EXTRACT", 1.0, 2.0, ("PROCESSED",))
        state.position = float(n)
        assert store.save({"": {"extract_run": state.to_dict()}})
    """
)


def test_state_file_is_never_torn_by_a_crash(tmp_path: Path) -> None:
    """kill -9 a process that rewrites a growing state file in a loop: the file always loads."""
    state = tmp_path / "state.json"
    rng = random.Random(7)
    positions: list[float] = []
    for _ in range(6):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(state)], stdout=subprocess.PIPE, cwd=Path(__file__).parents[2]
        )
        try:
            assert writer.stdout is not None and writer.stdout.readline().strip() == b"ready"
            time.sleep(rng.uniform(0.05, 0.4))  # a random moment of the write loop
        finally:
            writer.kill()
            writer.wait(timeout=10)
        if not state.exists():
            continue
        states = {"extract_run": KindState(KINDS["extract_run"])}
        store = StateStore(state, base_url="http://x", api_version="2026-02-09")
        assert store.load({"": states}), "torn state file"
        positions.append(states["extract_run"].position or 0.0)
        leftovers = [p.name for p in tmp_path.iterdir() if p.name != "state.json"]
        assert not leftovers, f"temporary files left behind after the restart: {leftovers}"
    assert positions, "the writer never wrote"


def bad_files(sim_url: str) -> dict[str, bytes]:
    def doc(**over: object) -> bytes:
        import orjson

        base: dict[str, object] = {
            "format": FORMAT,
            "version": VERSION,
            "scope": {"base_url": sim_url, "api_version": "2026-02-09"},
            "workspaces": {"": {"kinds": {}}},
        }
        base.update(over)
        return orjson.dumps(base)

    return {
        "corrupt": os.urandom(512),
        "empty": b"",
        "torn": doc()[:-7],
        "foreign version": doc(version=VERSION + 1),
        "another program's JSON": b'{"hello": "world"}',
        "another API base URL": doc(scope={"base_url": "https://elsewhere", "api_version": "2026-02-09"}),
        "malformed kind": doc(workspaces={"": {"kinds": {"extract_run": {"position": "soon"}}}}),
        "malformed workspace section": doc(workspaces={"": ["extract_run"]}),
        "malformed kind, version 1": doc(
            version=1, workspaces=None, kinds={"extract_run": {"position": "soon"}}
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "corrupt",
        "empty",
        "torn",
        "foreign version",
        "another program's JSON",
        "another API base URL",
        "malformed kind",
        "malformed workspace section",
        "malformed kind, version 1",
    ],
)
def test_bad_state_file_one_warning_and_a_fresh_start(sim: Simulator, tmp_path: Path, case: str) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(bad_files(sim.url)[case])
    mark = sim.mark()
    with start(sim, state) as proc:
        wait_exact(proc, sim, mark)
        sim.advance(30)
        wait_exact(proc, sim, mark)
        warnings = [line for line in proc.logs().splitlines() if " WARNING " in line or " ERROR " in line]
        assert len(warnings) == 1 and "state file" in warnings[0], warnings
        assert "Traceback" not in proc.logs()
    assert loads(state, sim), "the bad file was not replaced by a good one"


def test_unwritable_state_file_one_warning_and_read_only_continuation(sim: Simulator, tmp_path: Path) -> None:
    """A good state file whose volume becomes unwritable: counts continue from it, one warning."""
    directory = tmp_path / "volume"
    directory.mkdir()
    state = directory / "state.json"
    mark = sim.mark()
    with start(sim, state) as first:
        wait_exact(first, sim, mark)
        sim.advance(30)
        wait_exact(first, sim, mark)
    sim.advance(30)
    with start(sim, state) as proc:
        # The volume goes away under the running exporter: its path now names a plain file (ENOTDIR).
        directory.rename(tmp_path / "gone")
        directory.write_bytes(b"not a directory")
        state = tmp_path / "gone" / "state.json"
        for _ in range(3):
            sim.advance(30)
            wait_exact(proc, sim, mark)  # continued from the state file: no gap, no double count
        failures = sum(series(metrics(proc), "extend_exporter_state_write_failures_total").values())
        assert failures >= 3
        warnings = [line for line in proc.logs().splitlines() if " WARNING " in line or " ERROR " in line]
        assert len(warnings) == 1 and "not written" in warnings[0], warnings
        assert proc.proc.poll() is None
