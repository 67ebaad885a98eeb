"""The cached, per-(workspace, kind) exposition of the run families equals what prometheus_client
renders, and every workspace's series carry its label."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, generate_latest

from exporter.engine.kind_state import KindState, Observation, ResourceLabels
from exporter.kinds import KINDS
from exporter.metrics.collector import Exposition, RunsCollector

STATUSES = ("PENDING", "PROCESSING", "NEEDS_REVIEW", "PROCESSED", "FAILED", "CANCELLED")
SOURCES = ("API", "STUDIO", "WORKFLOW_RUN", "BATCH_PROCESSOR_RUN")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def snapshot_of(kind: str, runs: list[tuple[str, str, int]], per_resource: bool) -> KindState:
    """A kind that saw `runs` (status, source, resource number) created after counting began."""
    state = KindState(KINDS[kind], ResourceLabels(enabled=per_resource, allow=frozenset(), max_values=3))
    state.apply([], {}, overlap=60.0, new_position=1000.0, baseline=True)
    ptype = KINDS[kind].processor_type  # "" where the kind has none
    items = [
        Observation(
            f"{kind}-{i}",
            status,
            1000.0 + i,
            1010.0 + 2 * i,
            processor_type=ptype,
            credits=1.5 if status == "PROCESSED" else None,
            resource=(f"res_{n}", f"resource {n}"),
        )
        for i, (status, _source, n) in enumerate(runs)
    ]
    sources = {o.id: source for o, (_status, source, _n) in zip(items, runs, strict=True)}
    state.apply(items, sources, overlap=60.0, new_position=1010.0 + 2 * len(runs))
    return state


def library_render(collector: RunsCollector) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry)


runs_strategy = st.lists(
    st.tuples(st.sampled_from(STATUSES), st.sampled_from(SOURCES), st.integers(0, 5)), max_size=30
)


WORKSPACES = ("ws_b", "ws_a", "")


@settings(max_examples=60, deadline=None)
@given(
    data=st.dictionaries(
        st.tuples(st.sampled_from(WORKSPACES), st.sampled_from(sorted(KINDS))), runs_strategy, max_size=12
    ),
    per_resource=st.booleans(),
)
def test_cached_lines_render_what_the_library_renders(
    data: dict[tuple[str, str], list[tuple[str, str, int]]], per_resource: bool
) -> None:
    collector = RunsCollector(per_resource=per_resource, clock=Clock(5000.0))
    for (section, kind), runs in data.items():
        collector.update(
            section, section or "key-0123456789ab", snapshot_of(kind, runs, per_resource).snapshot()
        )
    assert collector.render() == library_render(collector)


def test_an_update_replaces_only_its_own_kind() -> None:
    collector = RunsCollector(clock=Clock(5000.0))
    collector.update("ws_a", "ws_a", snapshot_of("extract_run", [("FAILED", "API", 0)], False).snapshot())
    collector.update("ws_a", "ws_a", snapshot_of("parse_run", [("PROCESSED", "STUDIO", 0)], False).snapshot())
    collector.update("ws_b", "ws_b", snapshot_of("extract_run", [("FAILED", "API", 0)], False).snapshot())
    two_failed = [("FAILED", "API", 0), ("FAILED", "API", 1)]
    collector.update("ws_a", "ws_a", snapshot_of("extract_run", two_failed, False).snapshot())
    text = collector.render().decode()
    finished = (
        'extend_runs_finished_total{{kind="{}",processor_type="{}",source="{}",status="{}",workspace="{}"}}'
    )
    assert finished.format("extract_run", "EXTRACT", "API", "FAILED", "ws_a") + " 2.0" in text
    assert finished.format("extract_run", "EXTRACT", "API", "FAILED", "ws_b") + " 1.0" in text
    assert finished.format("parse_run", "", "STUDIO", "PROCESSED", "ws_a") + " 1.0" in text
    assert collector.render() == library_render(collector)


def test_a_new_label_for_a_workspace_renders_its_kinds_again() -> None:
    """A workspace key's fingerprint follows a rotated key file: no series keeps the old label."""
    collector = RunsCollector(clock=Clock(5000.0))
    collector.update(
        "", "key-000000000001", snapshot_of("extract_run", [("FAILED", "API", 0)], False).snapshot()
    )
    collector.update(
        "", "key-000000000001", snapshot_of("parse_run", [("PROCESSED", "API", 0)], False).snapshot()
    )
    collector.relabel("", "key-000000000001")  # unchanged: nothing to do
    collector.relabel("", "key-000000000002")
    text = collector.render().decode()
    assert "key-000000000001" not in text
    assert text.count('workspace="key-000000000002"') >= 2
    assert collector.render() == library_render(collector)


def test_ages_follow_the_clock_without_a_new_sync() -> None:
    clock = Clock(5000.0)
    collector = RunsCollector(clock=clock)
    collector.update("ws_a", "ws_a", snapshot_of("extract_run", [("PROCESSING", "API", 0)], False).snapshot())
    line = 'extend_runs_oldest_active_age_seconds{kind="extract_run",status="PROCESSING",workspace="ws_a"}'
    assert f"{line} 4000.0" in collector.render().decode()
    clock.now += 30
    assert f"{line} 4030.0" in collector.render().decode()


def test_exposition_puts_the_registry_first_then_the_runs() -> None:
    registry = CollectorRegistry(auto_describe=False)
    Counter("extend_stand_in", "Stands in for the exporter's own telemetry.", registry=registry).inc()
    runs = RunsCollector(clock=Clock(5000.0))
    runs.update("ws_a", "ws_a", snapshot_of("split_run", [("CANCELLED", "API", 0)], False).snapshot())
    text = Exposition(registry, runs).refresh().text
    assert text == generate_latest(registry) + runs.render()
