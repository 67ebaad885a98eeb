"""The batch and evaluation families as rendered: every family within its worst case when the caps
are full (more batches than the cap, undocumented statuses past their cap, more fields than kept)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exporter.batches.book import BatchBook
from exporter.batches.evaluations import Evaluation, read_evaluation
from exporter.batches.records import BatchReading
from exporter.engine.observation import Observation
from exporter.kinds import KINDS
from exporter.metrics import batch_families
from exporter.metrics.batch_collector import BatchCollector
from exporter.metrics.cardinality import Caps, worst_case
from exporter.metrics.labels import MAX_EXTRA_STATUSES

CAPS = Caps(max_batches=4, evaluation_runs=2, evaluation_max_fields=2)
BATCH_FAMILIES = list(batch_families.FAMILIES)


def saturated_book() -> BatchBook:
    book = BatchBook(("parse_run", "workflow_run"), max_batches=CAPS.max_batches, clock=lambda: 2000.0)
    book.counting_began(500.0)
    statuses = [*KINDS["parse_run"].all_statuses, *(f"NEW_{i}" for i in range(MAX_EXTRA_STATUSES + 2))]
    for b in range(CAPS.max_batches + 2):  # two more than the cap: left out, counted
        batch_id = f"bpar_{b}"
        runs = [
            Observation(f"r{b}_{i}", status, 600.0, 700.0 + i, batch_id=batch_id)
            for i, status in enumerate(statuses)
        ]
        book.observed(KINDS["parse_run"], {r.id: r for r in runs}, floor=0.0, listed={})
        book.read(batch_id, BatchReading("PROCESSING", run_count=len(runs), created_at=600.0))
    return book


def evaluation(run_id: str) -> Evaluation:
    e = Evaluation(run_id)
    fields = {f"field_{i}": {"countAccurate": 1.0, "countExpected": 2.0, "accuracy": 0.5} for i in range(5)}
    body = {
        "status": "PROCESSED",
        "entity": {"object": "extractor", "id": "ex_1"},
        "metrics": {"accuracy": 0.5, "fieldMetrics": fields, "numFilesTotal": 3.0, "p99LatencyMs": 10.0},
    }
    read_evaluation(body, e, max_fields=CAPS.evaluation_max_fields)
    return e


def test_every_batch_family_stays_within_its_worst_case() -> None:
    book = saturated_book()
    evaluations = [evaluation(f"esr_{i}") for i in range(CAPS.evaluation_runs)]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BatchCollector(lambda: [("ws-test", book.snapshot(), evaluations)]))
    series = {
        f.name: len(f.samples) for f in text_string_to_metric_families(generate_latest(registry).decode())
    }
    assert {f.name for f in BATCH_FAMILIES} == set(series)
    for family in BATCH_FAMILIES:
        assert series[family.name] <= worst_case(family, CAPS), family.name
    assert book.snapshot().left_out["parse_run"] == 2
    # Per batch: one series of each status of the kind and of each undocumented one, the rest as OTHER.
    assert series[batch_families.BATCH_RUNS.name] == CAPS.max_batches * (
        len(KINDS["parse_run"].all_statuses) + MAX_EXTRA_STATUSES + 1
    )
