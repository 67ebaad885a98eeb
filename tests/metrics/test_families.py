"""The registry of metric families is what /metrics exposes: every family a live exporter serves (all
opt-ins on) is declared, every declared one is served, with the same type, labels and help."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.config import Settings
from exporter.engine.accumulators import for_kind
from exporter.kinds import KINDS
from exporter.metrics.families import FAMILIES
from exporter.metrics.family import FilledBy
from exporter.metrics.labels import BATCH_KIND, EVALUATION_RUN_ID, KIND
from extend_simulator import SimConfig, Simulator
from tests.exporter_process import ExporterProcess, free_port, start_exporter, wait_until
from tests.reliability.truth import every_kind_up_is

# Standard families prometheus_client's ProcessCollector writes, with the library's own help.
LIBRARY_PREFIXES = ("process_",)


@pytest.fixture(scope="module")
def exporter() -> Iterator[ExporterProcess]:
    # Stuck runs are active from the start, so the per-resource families have samples at once.
    # A legacy evaluation-set batch that ended (watched both as a batch and as an evaluation set run)
    # and a parse batch queued for good give the batch families samples.
    sim = Simulator(SimConfig(seed=19, history=400, stuck_runs=2, qps_limit=None))
    legacy = sim.submit_batch("extract", 3, legacy_source="EVAL_SET")
    sim.advance(1800)
    sim.submit_batch("parse", 3, hold_seconds=1e6)
    sim.start(host="127.0.0.1", port=0)
    opt_ins = {
        "EXTEND_EXPORTER_PER_RESOURCE_LABELS": "true",
        "EXTEND_EXPORTER_USAGE_TAGS": "team_a,team_b",
        "EXTEND_EXPORTER_BATCH_IDS": legacy,
        "EXTEND_EXPORTER_EVALUATION_RUN_IDS": legacy,
        "EXTEND_EXPORTER_WEBHOOK_LISTEN_ADDRESS": f"127.0.0.1:{free_port()}",
        "EXTEND_EXPORTER_WEBHOOK_SECRET": "wss_families_test",
    }
    try:
        with start_exporter(sim.url, sim.api_key, kinds=",".join(KINDS), extra_env=opt_ins) as proc:
            wait_until(
                lambda: proc.get("/readyz").status_code == 200, timeout=60, message="every kind synced"
            )
            # /metrics is assembled shortly after a sync (issue 22): wait until it shows every kind's.
            wait_until(
                lambda: every_kind_up_is(proc, list(KINDS), 1.0), timeout=30, message="/metrics caught up"
            )
            yield proc
    finally:
        sim.stop()


def test_every_exposed_family_is_declared_and_every_declared_one_exposed(exporter: ExporterProcess) -> None:
    exposed = {
        f.name: f
        for f in text_string_to_metric_families(exporter.metrics_text())
        if not f.name.startswith(LIBRARY_PREFIXES)
    }
    assert list(exposed) == [f.name for f in FAMILIES]  # in declaration order, too
    for family in FAMILIES:
        served = exposed[family.name]
        assert served.type == family.type, family.name
        assert served.documentation == family.help, family.name
        assert served.samples, f"{family.name} has no sample: its labels go unchecked"
        names = {k for s in served.samples for k in s.labels if k != "le"}
        assert names == set(family.label_names), family.name


def test_an_opt_in_names_a_setting() -> None:
    for family in FAMILIES:
        if family.opt_in is not None:
            assert family.opt_in in Settings.model_fields, family.name


def test_names_are_unique_and_run_families_start_with_kind() -> None:
    assert len({f.name for f in FAMILIES}) == len(FAMILIES)
    for family in FAMILIES:
        assert len(set(family.label_names)) == len(family.labels), family.name
        assert family.help and family.help == family.help.strip(), family.name
        if family.filled_by in (FilledBy.LEDGER, FilledBy.ACCUMULATOR):  # the collector puts the kind first
            assert family.labels[:1] == (KIND,), family.name
        if family.filled_by is FilledBy.BATCHES:  # a batch's kind, or the evaluation set run, first
            assert family.labels[0] in (BATCH_KIND, EVALUATION_RUN_ID), family.name


def test_every_accumulator_family_has_its_accumulator() -> None:
    filled = {a.family for spec in KINDS.values() for a in for_kind(spec, frozenset({"tag"}))}
    assert filled == {f for f in FAMILIES if f.filled_by is FilledBy.ACCUMULATOR}
