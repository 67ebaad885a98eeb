"""The worst-case series of docs/metrics.md hold: a workload that fills every cap of every kind stays
within them, and reaches them for every family a cap bounds."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.parser import text_string_to_metric_families

from exporter.engine.accumulators import OUT_OF_CREDITS
from exporter.engine.kind_state import KindState, Observation, ResourceLabels
from exporter.engine.observation import Detail
from exporter.kinds import KINDS, PROCESSOR_TYPES, RISK_LEVELS, KindSpec
from exporter.metrics import families as fam
from exporter.metrics.cardinality import Caps, worst_case
from exporter.metrics.collector import RUN_FAMILIES, RunsCollector
from exporter.metrics.labels import MAX_EXTRA_STATUSES, MAX_EXTRA_VALUES

CAPS = Caps(per_resource_max=3, usage_tags=2)
TAGS = frozenset({"tag_a", "tag_b"})
OVERLAP = 60.0
# The active families: an undocumented status that is one of the four active ones would take a slot
# of the 8 undocumented statuses, so they cannot be at their bound while the finished ones are.
BELOW_BOUND = {fam.RUNS_ACTIVE.name, fam.RUNS_OLDEST_ACTIVE_AGE.name}


def _extras(prefix: str, n: int) -> list[str]:
    return [f"{prefix}_{i}" for i in range(n)]


def _saturating(spec: KindSpec) -> Iterator[tuple[str, Detail | None, str | None, str, str]]:
    """(status, detail, source, processor type, resource ID) of runs that fill every cap of a kind."""
    statuses = [*spec.terminal_statuses, *_extras("NEW_STATUS", MAX_EXTRA_STATUSES + 1)]
    sources: list[str | None] = [*spec.sources, None] if spec.sources else [""]
    ptypes = [*PROCESSOR_TYPES, "", "UNDOCUMENTED_TYPE"] if spec.type_from_field else [spec.processor_type]
    resources = [f"res_{i}" for i in range(CAPS.per_resource_max + 2)]
    for status in statuses:
        for source in sources:
            for ptype in ptypes:
                yield status, None, source, ptype, resources[0]
        for rid in resources:
            yield status, None, sources[0], ptypes[0], rid
    if spec.failure_reasons is not None:
        reasons = [*spec.failure_reasons, OUT_OF_CREDITS, *_extras("NEW_REASON", MAX_EXTRA_VALUES + 1), None]
        for reason in reasons:
            yield "FAILED", Detail(failure_reason=reason), sources[0], ptypes[0], resources[0]
    levels = [*RISK_LEVELS, *_extras("NEW_LEVEL", MAX_EXTRA_VALUES + 1), None] if spec.has_risk_level else []
    for level in levels:
        yield "PROCESSED", Detail(risk_level=level), sources[0], ptypes[0], resources[0]
    tagged = Detail(pages=3.0, processing_seconds=2.0, usage_tags=tuple(TAGS))
    yield "PROCESSED", tagged, sources[0], ptypes[0], resources[0]


def saturated(kind: str) -> KindState:
    spec = KINDS[kind]
    state = KindState(spec, ResourceLabels(enabled=True, max_values=CAPS.per_resource_max), TAGS)
    state.apply([], {}, overlap=OVERLAP, new_position=1000.0, baseline=True)
    observed, sources = [], {}
    for i, (status, detail, source, ptype, rid) in enumerate(_saturating(spec)):
        run = f"run_{i}"
        observed.append(
            Observation(
                run,
                status,
                1001.0,
                1002.0,
                processor_type=ptype,
                resource=(rid, rid),
                credits=1.0,
                detail=detail,
            )
        )
        if source is not None:
            sources[run] = source
    state.apply(observed, sources, overlap=OVERLAP, new_position=1002.0)
    return state


def test_a_workload_filling_every_cap_reaches_the_worst_case_and_never_passes_it() -> None:
    collector = RunsCollector(per_resource=True, usage_tags=True)
    for kind in CAPS.kinds:
        collector.update("ws_a", "ws_a", saturated(kind).snapshot())
    series = {f.name: len(f.samples) for f in text_string_to_metric_families(collector.render().decode())}
    assert set(series) == {f.name for f in RUN_FAMILIES}
    for family in RUN_FAMILIES:
        bound = worst_case(family, CAPS)
        if family.name in BELOW_BOUND:
            assert 0 < series[family.name] <= bound, family.name
        else:
            assert series[family.name] == bound, family.name


def test_the_bound_of_a_telemetry_family_counts_its_fixed_label_lists() -> None:
    assert worst_case(fam.SYNC_ERRORS, Caps(kinds=("extract_run", "parse_run"))) == 2 * 9
    # 10 bounds and +Inf, sum, count; for the kind's list path and the three batch and evaluation paths
    assert worst_case(fam.API_REQUEST_DURATION, Caps(kinds=("extract_run",))) == (1 + 3) * (11 + 2)
    assert worst_case(fam.BUILD_INFO) == 1
