"""A fixed workload rendered through the real collector and telemetry: the same bytes on every run.

The golden file `data/classic_exposition.txt` was written from this scenario by the exporter before it
spoke OpenMetrics; `test_collector.py` holds the classic body to it byte for byte. A change meant to alter
the classic body (a new label on the run series) rewrites it: `python -m tests.metrics.exposition_scenario`.
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from exporter import __version__
from exporter.engine.kind_state import KindState, Observation, ResourceLabels
from exporter.engine.observation import Detail
from exporter.kinds import KINDS
from exporter.metrics.collector import Exposition, RunsCollector
from exporter.metrics.telemetry import Telemetry, WorkspaceTelemetry

GOLDEN = Path(__file__).parent / "data" / "classic_exposition.txt"
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
WORKSPACE = "ws_1"  # the one workspace of the scenario: every run and sync series carries it
#: The build info's version label changes with every release; the golden file holds this instead.
VERSION_PLACEHOLDER = "VERSION"
REASONS = ("INTERNAL_ERROR", "FILE_TOO_LARGE", None, "OUT_OF_CREDITS")
STATUSES = ("PROCESSED", "FAILED", "PROCESSING", "FAILED", "CANCELLED", "PENDING", "NEEDS_REVIEW")


def _observations(kind: str, count: int) -> list[Observation]:
    spec = KINDS[kind]
    out = []
    for i in range(count):
        status = STATUSES[i % len(STATUSES)]
        if status not in spec.all_statuses:
            status = spec.terminal_statuses[0]
        failed = status == "FAILED" and spec.failure_reasons is not None
        processed = status == "PROCESSED"
        out.append(
            Observation(
                f"{kind[:3]}_{i:04d}",
                status,
                NOW - 3000 + 7 * i,
                NOW - 2900 + 7 * i + (i % 5) * 40,
                processor_type=spec.processor_type or "EXTRACT",
                resource=(f"res_{i % 3}", f"resource {i % 3}"),
                credits=2.0 if processed else None,
                detail=Detail(
                    failure_reason=REASONS[i % len(REASONS)] if failed else None,
                    pages=3.0 if processed else None,
                    processing_seconds=1.5 * (i % 4) if processed and spec.has_metrics else None,
                    risk_level="LOW" if processed and spec.has_risk_level else None,
                    usage_tags=("team-a",) if processed else (),
                ),
            )
        )
    return out


def runs(kind: str) -> tuple[list[Observation], dict[str, str]]:
    """The 40 runs one sync of `kind` saw, in the order it applied them, and their sources."""
    observations = _observations(kind, 40)
    return observations, {o.id: ("API", "STUDIO")[n % 2] for n, o in enumerate(observations)}


def states() -> list[KindState]:
    """Every kind after a baseline and one sync that saw 40 new runs."""
    out = []
    for kind in sorted(KINDS):
        state = KindState(KINDS[kind], ResourceLabels(enabled=True, max_values=5), frozenset({"team-a"}))
        state.apply([], {}, overlap=60.0, new_position=NOW - 3600, baseline=True)
        observations, sources = runs(kind)
        state.apply(observations, sources, overlap=60.0, new_position=NOW)
        out.append(state)
    return out


def parts() -> tuple[CollectorRegistry, RunsCollector, Telemetry]:
    """A registry (empty here: process_* change from run to run), the run families and the exporter's own
    metrics, of one workspace (WORKSPACE)."""
    registry = CollectorRegistry(auto_describe=False)
    telemetry = Telemetry(("/extract_runs",))
    workspace = WorkspaceTelemetry(tuple(sorted(KINDS)), "2026-02-09", ("/extract_runs",))
    telemetry.add_workspace(WORKSPACE, lambda: WORKSPACE, workspace)
    workspace.syncs.labels("extract_run", "success").inc(3)
    runs = RunsCollector(per_resource=True, clock=lambda: NOW, usage_tags=True)
    for state in states():
        runs.update(WORKSPACE, WORKSPACE, state.snapshot())
    return registry, runs, telemetry


def exposition() -> Exposition:
    return Exposition(*parts())


def classic_text() -> bytes:
    """The classic body of the scenario, with the version label replaced by VERSION_PLACEHOLDER."""
    text = exposition().refresh().text
    return text.replace(f'version="{__version__}"'.encode(), f'version="{VERSION_PLACEHOLDER}"'.encode())


if __name__ == "__main__":  # writes the golden file (only for an intended change of the classic body)
    GOLDEN.write_bytes(classic_text())
