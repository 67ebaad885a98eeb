"""Helpers shared by the benchmarks: process memory, an in-process exporter, JSON output."""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import subprocess
import sys
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/x.py` as well as `python -m bench.x`
    sys.path.insert(0, str(ROOT))

from exporter.api.apikey import ApiKeySource  # noqa: E402
from exporter.app import Exporter  # noqa: E402
from exporter.config import load_settings  # noqa: E402
from exporter.factory import build_exporter  # noqa: E402
from exporter.kinds import API_2026, DEFAULT_KINDS  # noqa: E402

if TYPE_CHECKING:  # the simulator is heavy; memory figures must not include it
    from extend_simulator import Simulator

DEFAULT_KIND_NAMES: tuple[str, ...] = DEFAULT_KINDS[API_2026]
PAYG_QUOTA_RPS = 10.0


def proc_status_bytes(field: str) -> int:
    """VmRSS / VmHWM of this process in bytes, from /proc/self/status (Linux); 0 if unknown."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def rss() -> int:
    return proc_status_bytes("VmRSS")


def mib(n: float) -> float:
    return round(n / (1024 * 1024), 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_exporter(sim: Simulator, kinds: tuple[str, ...] = DEFAULT_KIND_NAMES, **overrides: Any) -> Exporter:
    """An exporter against an in-process simulator on its virtual clock (as in tests/e2e)."""
    return exporter_for(sim.url, sim.api_key, kinds, clock=lambda: sim.now().timestamp(), **overrides)


def exporter_for(
    url: str,
    api_key: str,
    kinds: tuple[str, ...] = DEFAULT_KIND_NAMES,
    *,
    clock: Callable[[], float] | None = None,
    **overrides: Any,
) -> Exporter:
    """An exporter with default settings unless overridden.

    The request budget is raised to its maximum: the benchmarks count requests, they need not wait.
    """
    values: dict[str, Any] = {
        "api_key": api_key,
        "api_base_url": url,
        "kinds": ",".join(kinds),
        "max_requests_per_second": 100,
    }
    values.update(overrides)
    settings = load_settings(values)
    key = ApiKeySource(settings.api_key, None)
    return build_exporter(settings, key) if clock is None else build_exporter(settings, key, clock=clock)


@contextlib.contextmanager
def sim_process(*args: str, max_seconds: float = 300.0) -> Iterator[dict[str, str]]:
    """bench/simserver.py in a child process; yields {"url", "api_key"}; always stopped on exit."""
    cmd = [sys.executable, "-m", "bench.simserver", "--max-seconds", str(max_seconds), *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the simulator process did not start")
        yield json.loads(line)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()  # the child exits when its stdin closes
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def json_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")


def emit(results: dict[str, Any], path: Path | None) -> None:
    """Print the results as JSON (the last line of stdout is what bench/run.py reads) and save them."""
    text = json.dumps(results, indent=2, sort_keys=False)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    print(json.dumps(results))


def query_type(path: str, params: Collection[str]) -> str:
    """What a request of a sync is for, by its path and query parameter names: `batches` (a batch's or
    an evaluation run's status, a batch's runs by `batchId`), `attribution` (source-filtered listings),
    `reconcile` (status-filtered), else `scan` (the ordered listing, its re-reads, file-name lookups)."""
    if "batchId" in params or not path.endswith("_runs"):
        return "batches"
    if "source" in params:
        return "attribution"
    if "status" in params:
        return "reconcile"
    return "scan"
