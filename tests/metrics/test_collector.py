"""The cached, per-(workspace, kind) exposition of the run families equals what prometheus_client
renders, and every workspace's series carry its label."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from exporter.engine.kind_state import DURATION_BUCKETS, KindState, Observation, ResourceLabels
from exporter.kinds import KINDS
from exporter.metrics import families as fam
from exporter.metrics.collector import EOF, EXEMPLAR_FAMILIES, Exposition, RunsCollector

from . import exposition_scenario as scenario

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


def library_render(collector: RunsCollector, *, openmetrics: bool = False) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    if openmetrics:
        return generate_openmetrics(registry)  # type: ignore[no-untyped-call,no-any-return]
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
    assert collector.render_openmetrics() + EOF == library_render(collector, openmetrics=True)


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


# --- the two formats of /metrics ---------------------------------------------------------------------


def test_the_classic_body_is_todays_byte_for_byte() -> None:
    """The golden file was written by the exporter before it spoke OpenMetrics (exposition_scenario.py)."""
    assert scenario.classic_text() == scenario.GOLDEN.read_bytes()


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is required (Debian package `prometheus`; .ci/run installs it)"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=False)


def test_promtool_check_metrics_passes_the_classic_body(tmp_path: Path) -> None:
    """`promtool check metrics` reads the classic text format only: it stops at an exemplar's `#`, and it
    takes an OpenMetrics counter's `_total` samples for a family of their own. The OpenMetrics body goes
    through Prometheus' OpenMetrics parser below instead."""
    body = scenario.exposition().refresh().text
    result = subprocess.run(
        [shutil.which("promtool") or "promtool", "check", "metrics"],
        input=body.decode(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and not result.stdout + result.stderr, result.stdout + result.stderr


def _with_timestamps(body: bytes, at: int) -> str:
    """Every sample line with a timestamp (backfilling needs one), before its exemplar if any."""
    out = []
    for line in body.decode().splitlines():
        if not line.startswith("#"):
            sample, hashed, exemplar = line.partition(" # ")
            line = f"{sample} {at}{hashed}{exemplar}"
        out.append(line + "\n")
    return "".join(out)


def test_prometheus_own_openmetrics_parser_takes_the_openmetrics_body(tmp_path: Path) -> None:
    """promtool's backfill reads OpenMetrics with the parser Prometheus scrapes with: exemplar syntax,
    `# EOF` and every line are checked (it fails on a malformed exemplar or a missing `# EOF`)."""
    body = scenario.exposition().refresh().openmetrics
    source = tmp_path / "metrics.om"
    source.write_text(_with_timestamps(body, int(scenario.NOW)))
    result = _promtool("tsdb", "create-blocks-from", "openmetrics", str(source), str(tmp_path / "blocks"))
    assert result.returncode == 0, result.stdout + result.stderr
    samples = sum(1 for line in body.splitlines() if not line.startswith(b"#"))
    assert f" {samples} " in result.stdout, result.stdout  # NUM SAMPLES: every line ingested
    broken = source.read_text().replace('{run_id="', "{run_id=", 1)
    source.write_text(broken)
    result = _promtool("tsdb", "create-blocks-from", "openmetrics", str(source), str(tmp_path / "again"))
    assert result.returncode != 0, "the parser check has teeth"


def _openmetrics(text: str) -> Iterable[Metric]:
    return openmetrics_families(text)  # type: ignore[no-untyped-call,no-any-return]


def _families(text: str, parse: Callable[[str], Iterable[Metric]]) -> dict[str, list[Sample]]:
    return {f.name: sorted(f.samples, key=lambda s: (s.name, sorted(s.labels.items()))) for f in parse(text)}


def test_the_openmetrics_body_holds_the_classic_samples_plus_exemplars() -> None:
    rendered = scenario.exposition().refresh()
    openmetrics = _families(rendered.openmetrics.decode(), _openmetrics)
    classic = _families(rendered.text.decode(), text_string_to_metric_families)
    assert rendered.openmetrics.endswith(b"\n# EOF\n") and rendered.openmetrics.count(b"# EOF") == 1
    assert list(openmetrics) == [name.removesuffix("_total") for name in classic]
    with_exemplars = set()
    for (name, om_samples), classic_samples in zip(openmetrics.items(), classic.values(), strict=True):
        assert [s._replace(exemplar=None) for s in om_samples] == classic_samples, name
        if any(s.exemplar for s in om_samples):
            with_exemplars.add(name)
    assert with_exemplars == EXEMPLAR_FAMILIES
    assert gzip.decompress(rendered.openmetrics_gzipped) == rendered.openmetrics
    # No `_created` samples (left out on purpose, see collector.py): only `extend_runs_created_total`.
    assert not [s.name for samples in openmetrics.values() for s in samples if s.name.endswith("_created")]


def test_both_bodies_are_what_prometheus_client_writes_of_the_whole_registry() -> None:
    """The cached, spliced bodies equal the library's rendering of everything at once, OpenMetrics with
    its default escaping (the exposition uses a faster one that writes the same bytes for valid names).
    The exporter's own metrics come first, in the same bytes as their own render (the parsed comparison
    above holds their OpenMetrics samples to the classic ones)."""
    registry, runs, telemetry = scenario.parts()
    rendered = Exposition(registry, runs, telemetry).refresh()
    own, own_openmetrics = telemetry.render()
    registry.register(runs)
    assert rendered.text == own + generate_latest(registry)
    assert rendered.openmetrics == own_openmetrics + generate_openmetrics(registry)  # type: ignore[no-untyped-call]


def _finished_at(o: Observation) -> float:
    return o.finished_at if o.finished_at is not None else o.updated_at


def _duration(o: Observation) -> float:
    return _finished_at(o) - (o.started_at if o.started_at is not None else o.created_at)


def _series_of(kind: str, o: Observation, sources: dict[str, str]) -> dict[str, dict[str, str]]:
    """The labels of each exemplar-carrying series the run counts in (the durations' without `le`)."""
    spec = KINDS[kind]
    ptype = o.processor_type
    ws = scenario.WORKSPACE  # on the series, so the exemplar needs only run_id
    out = {
        fam.RUN_DURATION.name: {"kind": kind, "status": o.status, "processor_type": ptype, "workspace": ws}
    }
    if o.status == "FAILED":
        source = sources[o.id] if spec.sources else ""
        finished = {
            "kind": kind,
            "status": "FAILED",
            "source": source,
            "processor_type": ptype,
            "workspace": ws,
        }
        out[fam.RUNS_FINISHED.name] = finished
        if spec.failure_reasons is not None:
            reason = o.failure_reason or "UNSPECIFIED"
            out[fam.RUNS_FAILED.name] = {"kind": kind, "failure_reason": reason, "workspace": ws}
    return out


def _in_bucket(o: Observation, le: str | None) -> bool:
    if le is None:
        return True
    bounds = (0.0, *DURATION_BUCKETS)
    upper = bounds.index(float(le))
    return bounds[upper - 1] < _duration(o) <= bounds[upper]


def test_each_exemplar_names_the_run_that_finished_last_in_its_series() -> None:
    """Checked against the scenario's runs, not the engine: the exemplar's run counted in that series (for a
    bucket: its duration fell there), and no run of the series finished later."""
    rendered = scenario.exposition().refresh()
    exemplars = [
        (family.name, sample, sample.exemplar)
        for family in _openmetrics(rendered.openmetrics.decode())
        for sample in family.samples
        if sample.exemplar is not None
    ]
    assert len(exemplars) > 3 * len(KINDS)
    runs = {kind: scenario.runs(kind) for kind in KINDS}
    by_id = {o.id: (kind, o) for kind, (observations, _) in runs.items() for o in observations}
    for name, sample, exemplar in exemplars:
        assert set(exemplar.labels) == {"run_id"}, sample
        kind, run = by_id[exemplar.labels["run_id"]]
        observations, sources = runs[kind]
        le = sample.labels.get("le")
        series = {k: v for k, v in sample.labels.items() if k != "le"}
        assert _series_of(kind, run, sources).get(name) == series and _in_bucket(run, le), (sample, run)
        assert exemplar.timestamp is not None and float(exemplar.timestamp) == _finished_at(run)
        assert exemplar.value == (_duration(run) if le is not None else 1.0)
        same_series = [o for o in observations if _series_of(kind, o, sources).get(name) == series]
        assert max(_finished_at(o) for o in same_series if _in_bucket(o, le)) == _finished_at(run), sample
