"""Simulator -> exporter -> a real Prometheus (1s scrapes, the shipped alert rules loaded), all on loopback.

The simulator runs on the real clock (virtual epoch = now, speed 1) so the exporter's wall-clock gauges and
the runs' timestamps agree. The spike test gets a stack of its own (its steady phase must come first); the
other tests share one in which a short spike already happened. Every wait has a deadline.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.api.identity import key_fingerprint
from extend_simulator import FailureSpike, Fault, SimConfig, Simulator, derive
from extend_simulator.config import WebhookConfig
from extend_simulator.enums import KIND
from extend_simulator.truth import labels4
from grafana.alerts import alerts
from grafana.knobs import Knobs
from tests.exporter_process import ExporterProcess, free_port, start_exporter, wait_until

from .promql import (
    DASHBOARDS,
    PROMETHEUS_RULES,
    ROUTING_LABELS,
    SYNTHETIC_METRICS,
    TARGET_LABELS,
    all_exprs,
    dashboard_queries,
    load_json,
    load_yaml,
    panels,
    references,
    substitute,
    variable_queries,
)
from .stack import PrometheusServer

KINDS = ("workflow_run", "extract_run", "parse_run", "verify_run")
#: Deliberately not the usual job name: the dashboards and rules must not depend on it.
JOB = "some-extend-job"
WEBHOOK_SECRET = "wss_live_stack_secret"
#: How long the steady workload is watched before the spike is scripted.
STEADY_SECONDS = 15.0
#: Upper bound from scripting the spike to the alert expression being true.
SPIKE_DEADLINE_SECONDS = 45.0


@dataclass
class Stack:
    sim: Simulator
    exporter: ExporterProcess
    prometheus: PrometheusServer

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.exporter.port}"


def _sim_config() -> SimConfig:
    zero = {
        "workflow": 0.0,
        "extract": 0.0,
        "classify": 0.0,
        "split": 0.0,
        "parse": 0.0,
        "edit": 0.0,
        "verify": 0.0,
    }
    return SimConfig(
        seed=4,
        epoch=datetime.now(UTC),
        history=60,
        qps_limit=None,
        realtime=True,
        speed=1.0,
        # Runs per minute. A steady trickle of FAILED runs stays far below the spike alert's 10 per 10m
        # during the test; the failure ratio stays below 20%.
        rates={**zero, "workflow": 30.0, "extract": 120.0, "parse": 60.0, "verify": 60.0},
        durations={**{f: 1.0 for f in zero}, "workflow": 3.0, "extract": 2.0},
        queue_seconds=0.5,
        failure_rate={"workflow": 0.05, "extract": 0.01, "parse": 0.05, "verify": 0.05},
        cancel_rate=0.01,
        needs_review_rate=0.3,
        review_seconds=600.0,
    )


@contextmanager
def running_stack() -> Iterator[Stack]:
    sim = Simulator(_sim_config())
    # A parse batch draining for minutes gives the batches row a batch in progress.
    sim.submit_batch("parse", 120, hold_seconds=2, drain_per_second=0.5)
    # An evaluation set run (a legacy EVAL_SET batch processor run) for the evaluation runs row.
    evaluation = sim.submit_batch("extract", 3, legacy_source="EVAL_SET")
    sim.start(host="127.0.0.1", port=0)
    # A few 429s (retried by the exporter) so the retry and rate-limit panels have data.
    sim.set_faults(Fault(kind="rate_limit", rate=0.02))
    # Webhooks on, so the webhook panels and the silent-webhooks rule have their series.
    hook_port = free_port()
    sim.deliver_webhooks(WebhookConfig(f"http://127.0.0.1:{hook_port}/webhooks/extend", WEBHOOK_SECRET))
    try:
        with start_exporter(
            sim.url,
            sim.api_key,
            kinds=",".join(KINDS),
            poll_interval=1.0,
            extra_env={
                "EXTEND_EXPORTER_PER_RESOURCE_LABELS": "true",
                "EXTEND_EXPORTER_LOG_LEVEL": "info",
                "EXTEND_EXPORTER_USAGE_TAGS": "team-claims,priority",
                "EXTEND_EXPORTER_WEBHOOK_LISTEN_ADDRESS": f"127.0.0.1:{hook_port}",
                "EXTEND_EXPORTER_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "EXTEND_EXPORTER_EVALUATION_RUN_IDS": evaluation,
            },
        ) as exporter:
            target = f"127.0.0.1:{exporter.port}"
            with PrometheusServer(target, job=JOB, rule_files=[PROMETHEUS_RULES]) as prometheus:
                wait_until(
                    lambda: len(prometheus.query("extend_up == 1")) == len(KINDS),
                    timeout=30,
                    interval=0.2,
                    message="every kind synced and scraped",
                )
                yield Stack(sim, exporter, prometheus)
    finally:
        sim.stop()


@pytest.fixture
def fresh_stack() -> Iterator[Stack]:
    """A stack of its own: nothing has been scripted in its simulator yet."""
    with running_stack() as stack:
        yield stack


@pytest.fixture(scope="module")
def spiked_stack() -> Iterator[Stack]:
    """A shared stack after a short FAILED spike, so every series a dashboard shows has appeared."""
    with running_stack() as stack:
        now = stack.sim.virtual_elapsed()
        stack.sim.script(FailureSpike(family="extract", start=now, end=now + 15.0, failure_rate=1.0))
        yield stack


def _rule_expr(name: str) -> str:
    for group in load_yaml(PROMETHEUS_RULES)["groups"]:
        for rule in group["rules"]:
            if rule["alert"] == name:
                return str(rule["expr"])
    raise KeyError(name)


def _rule_state(stack: Stack, name: str) -> str | None:
    for group in stack.prometheus.api("rules")["groups"]:
        for rule in group["rules"]:
            if rule["name"] == name:
                return str(rule["state"])
    return None


def test_steady_workload_stays_silent_and_a_failed_spike_trips_the_alert(fresh_stack: Stack) -> None:
    stack = fresh_stack
    prom = stack.prometheus
    spike, ratio = _rule_expr("ExtendRunsFailedSpike"), _rule_expr("ExtendRunsFailureRatioHigh")
    failed_before = sum(
        float(r["value"][1]) for r in prom.query('extend_runs_finished_total{status="FAILED"}')
    )

    # Steady workload: both FAILED alert expressions stay false on every evaluation of the window.
    deadline = time.monotonic() + STEADY_SECONDS
    evaluations = 0
    while time.monotonic() < deadline:
        assert prom.query(spike) == [], "FAILED-spike alert expression true on a steady workload"
        assert prom.query(ratio) == [], "failure-ratio alert expression true on a steady workload"
        evaluations += 1
        time.sleep(0.25)
    finished = prom.query(f'sum(increase(extend_runs_finished_total{{job="{JOB}"}}[1m]))')
    assert finished and float(finished[0]["value"][1]) >= 20, (
        "the steady phase saw too little work to mean much"
    )
    failed_after = sum(
        float(r["value"][1]) for r in prom.query('extend_runs_finished_total{status="FAILED"}')
    )
    assert failed_after > failed_before, "the steady workload should include some FAILED runs"
    # The rule engine agrees (and every shipped rule evaluates without error on real data).
    rules = [r for g in prom.api("rules")["groups"] for r in g["rules"]]
    assert len(rules) == len(alerts(Knobs())) and all(r["health"] == "ok" for r in rules), rules
    assert _rule_state(stack, "ExtendRunsFailedSpike") == "inactive"

    # Script the spike: every extract run finishing from now on fails.
    started = time.monotonic()
    now = stack.sim.virtual_elapsed()
    stack.sim.script(FailureSpike(family="extract", start=now, end=now + 120.0, failure_rate=1.0))
    hits = wait_until(
        lambda: prom.query(spike),
        timeout=SPIKE_DEADLINE_SECONDS,
        interval=0.2,
        message="FAILED-spike alert expression true after the scripted spike",
    )
    to_spike = time.monotonic() - started
    workspace = key_fingerprint(stack.sim.api_key)
    assert [h["metric"] for h in hits] == [{"job": JOB, "workspace": workspace, "kind": "extract_run"}]
    assert float(hits[0]["value"][1]) >= 10
    wait_until(lambda: prom.query(ratio), timeout=SPIKE_DEADLINE_SECONDS, interval=0.2, message="ratio alert")
    to_ratio = time.monotonic() - started
    wait_until(
        lambda: _rule_state(stack, "ExtendRunsFailedSpike") == "pending",
        timeout=10,
        interval=0.2,
        message="Prometheus's own evaluation of the rule turning pending",
    )
    # Prometheus renders the description with the annotation's query: it names the top failure reason,
    # one of the reasons the exporter counted for extract runs.
    pending = wait_until(
        lambda: _rule_alerts(stack, "ExtendRunsFailedSpike"), timeout=10, interval=0.2, message="spike alert"
    )
    description = pending[0]["annotations"]["description"]
    reasons = {
        r["metric"]["failure_reason"] for r in prom.query('extend_runs_failed_total{kind="extract_run"} > 0')
    }
    named = description.split("Top failure reason: ", 1)[1].split(" (", 1)[0] if reasons else ""
    assert named in reasons, (description, reasons)

    # The API starts answering 402 Payment Required: the out-of-credits expression turns true.
    stack.sim.add_fault(Fault(kind="usage_blocked", rate=1.0))
    out_of_credits = _rule_expr("ExtendOutOfCredits")
    hits = wait_until(
        lambda: prom.query(out_of_credits), timeout=30, interval=0.2, message="out-of-credits expression"
    )
    assert [h["metric"] for h in hits] == [{"job": JOB, "workspace": workspace}]
    print(
        f"\nsteady phase: {evaluations} evaluations over {STEADY_SECONDS:.0f}s, none true; "
        f"spike scripted -> FAILED-spike expression true after {to_spike:.1f}s, "
        f"failure-ratio expression true after {to_ratio:.1f}s; description: {description!r}"
    )


def _rule_alerts(stack: Stack, name: str) -> list[dict[str, Any]]:
    for group in stack.prometheus.api("rules")["groups"]:
        for rule in group["rules"]:
            if rule["name"] == name:
                return list(rule.get("alerts", []))
    return []


def _finite(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(r["value"][1])) for r in result)


def test_every_dashboard_query_returns_data(spiked_stack: Stack) -> None:
    stack = spiked_stack
    prom = stack.prometheus
    for path in DASHBOARDS:
        for where, name, selector, label in variable_queries(path):
            assert selector, where
            values = {
                r["metric"].get(label, "") for r in prom.query(f"group by ({label}) ({substitute(selector)})")
            }
            expected = {
                "job": {JOB},
                "instance": {stack.target},
                "kind": set(KINDS),
                "workspace": {key_fingerprint(stack.sim.api_key)},
            }.get(name)
            assert values == expected if expected else values, f"{where}: {values}"

    queries = [q for path in DASHBOARDS for q in dashboard_queries(path)]
    empty: list[str] = []

    def all_have_data() -> bool:
        # A trailing `> 0` hides the zero series of a healthy stack by design (sync errors by reason):
        # the query without it must have data.
        unfiltered = {q.where: q.text.strip().removesuffix("> 0") for q in queries}
        empty[:] = [where for where, text in unfiltered.items() if not _finite(prom.query(substitute(text)))]
        return not empty

    try:
        wait_until(all_have_data, timeout=45, interval=0.5, message="data in every dashboard query")
    except AssertionError:
        raise AssertionError(f"dashboard queries without data: {empty}") from None
    # The top-failing table names processors and workflows through the *_info join.
    (top,) = [q for q in queries if "Top failing" in q.where]
    rows = prom.query(substitute(top.text))
    assert any(r["metric"].get("resource_name") for r in rows), rows


def _exposed(text: str) -> tuple[dict[str, set[str]], dict[str, dict[str, set[str]]]]:
    """Sample name -> label names, and sample name -> label -> values, from a /metrics body."""
    labels: dict[str, set[str]] = {}
    values: dict[str, dict[str, set[str]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
            for key, value in sample.labels.items():
                values.setdefault(sample.name, {}).setdefault(key, set()).add(value)
    return labels, values


def _problems(text: str) -> list[str]:
    exposed, exposed_values = _exposed(text)
    problems = []
    for e in all_exprs():
        refs = references(e.text)
        known = set(TARGET_LABELS | ROUTING_LABELS)
        for name, used in refs.selectors.items():
            if name in SYNTHETIC_METRICS:
                continue
            if name not in exposed:
                problems.append(f"{e.where}: metric {name} is not exposed")
                continue
            known |= exposed[name]
            if extra := used - exposed[name] - TARGET_LABELS:
                problems.append(f"{e.where}: {name} has no label(s) {sorted(extra)}")
            for label, wanted in refs.values.get(name, {}).items():
                if label == "status" and (missing := wanted - exposed_values[name].get(label, set())):
                    problems.append(f"{e.where}: {name} never has {label}={sorted(missing)}")
        if extra := refs.grouping - known:
            problems.append(f"{e.where}: groups or matches on unknown label(s) {sorted(extra)}")
    return problems


def test_queries_reference_only_what_the_exporter_exposes(spiked_stack: Stack) -> None:
    """Every metric, label and status value in the dashboards and both alert files is in the live /metrics.

    Some series only appear once something happened (a retry, a FAILED run of a named processor), so this
    polls the live output until it is complete or the deadline passes.
    """
    problems: list[str] = []

    def complete() -> bool:
        problems[:] = _problems(spiked_stack.exporter.metrics_text())
        return not problems

    try:
        wait_until(complete, timeout=45, interval=0.5, message="every referenced metric exposed")
    except AssertionError:
        raise AssertionError("\n".join(problems)) from None
    # The check has teeth: a renamed metric or a label the exporter lacks is reported.
    text = spiked_stack.exporter.metrics_text()
    assert _problems(text.replace("extend_runs_finished_total", "extend_runs_done_total"))
    assert _problems(text.replace('processor_type="', 'ptype="'))


# --- two exporters polling one workspace --------------------------------------------------------------

#: Burst of work both exporters watch (runs per minute, for BURST_SECONDS), on an otherwise idle workspace.
BURST_RATES = {"workflow": 30.0, "extract": 120.0, "parse": 60.0}
BURST_SECONDS = 12.0
#: Rates and increases extrapolate to the window's edges from each target's own scrape instants, which
#: differ between two targets: the same counts give values a few percent apart. Gauges compare exactly.
EXTRAPOLATION_TOLERANCE = 0.05
# The exporter re-renders oldest-active ages every 5 s; two exporters do so at different instants.
AGE_REFRESH_SECONDS = 5.0


def _values(prom: PrometheusServer, expr: str, at: float) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in prom.query(expr, at)}


def _run_series(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The run families of a /metrics body (ages excluded: they move with the clock)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith(("extend_runs_", "extend_run_")) and "oldest" not in family.name
        for sample in family.samples
    }


def _same_run_series(a: str, b: str) -> bool:
    """Equal run series; float sums (a histogram's _sum) may differ in the last bit, as two exporters add
    the same values in another order."""
    left, right = _run_series(a), _run_series(b)
    return left.keys() == right.keys() and all(math.isclose(left[k], right[k], rel_tol=1e-9) for k in left)


def test_two_exporters_of_one_workspace_show_the_single_exporter_values() -> None:
    """A sidecar on a 2-replica app: two exporters poll one workspace. Every overview panel shows what one
    exporter alone shows, never the sum, and the duplicate-poller alert expression is true."""
    config = _sim_config()
    config.rates = {family: 0.0 for family in config.rates}
    sim = Simulator(config)
    sim.start(host="127.0.0.1", port=0)
    try:
        with (
            start_exporter(sim.url, sim.api_key, kinds=",".join(KINDS), poll_interval=1.0) as first,
            start_exporter(sim.url, sim.api_key, kinds=",".join(KINDS), poll_interval=1.0) as second,
        ):
            targets = [f"127.0.0.1:{first.port}", f"127.0.0.1:{second.port}"]
            with PrometheusServer(targets, job=JOB, rule_files=[PROMETHEUS_RULES]) as prom:
                wait_until(
                    lambda: len(prom.query("extend_up == 1")) == 2 * len(KINDS),
                    timeout=30,
                    interval=0.2,
                    message="both exporters synced every kind and were scraped",
                )
                window_start = time.time() + 1.0
                workspace = key_fingerprint(sim.api_key)
                duplicate = _rule_expr("ExtendWorkspacePolledTwice").replace(" > 1", "")
                assert [(r["metric"], r["value"][1]) for r in prom.query(duplicate)] == [
                    ({"workspace": workspace}, "2")
                ]
                # The burst starts inside the compared window, after both exporters' series exist.
                wait_until(lambda: time.time() > window_start + 2, timeout=10, interval=0.2, message="window")
                for family, per_min in BURST_RATES.items():
                    sim.set_rate(family, per_min)
                burst_end = time.time() + BURST_SECONDS
                wait_until(lambda: time.time() > burst_end, timeout=30, interval=0.2, message="burst")
                for family in BURST_RATES:
                    sim.set_rate(family, 0.0)
                # The burst's runs finish a few seconds later (reviews take minutes, beyond the test): wait
                # until no run changes, then until both exporters counted the same runs, then until
                # Prometheus scraped both after that. Compared earlier, one exporter may have synced a
                # transition the other has not yet (a real difference between two pollers, not a sum).
                wait_until(
                    lambda: _quiet_for(sim, 5.0), timeout=60, interval=0.5, message="the burst's runs settled"
                )
                wait_until(
                    lambda: _same_run_series(first.metrics_text(), second.metrics_text()),
                    timeout=60,
                    interval=0.5,
                    message="both exporters counted the same runs",
                )
                settled = time.time()
                wait_until(
                    lambda: len(prom.query(f"timestamp(extend_exporter_build_info) > {settled:.3f}")) == 2,
                    timeout=30,
                    interval=0.2,
                    message="both exporters scraped after they agreed",
                )
                at = time.time()
                window = f"{int(at - window_start)}s"
                compared = _compare_overview(prom, targets, at, window)
                assert compared >= 10, f"only {compared} non-zero panel series to compare"
    finally:
        sim.stop()


def _quiet_for(sim: Simulator, seconds: float) -> bool:
    """No simulated run was created or changed in the last `seconds` (simulator time)."""
    newest_ms = max((r.updated for r in sim.runs()), default=0)
    return sim.now().timestamp() - newest_ms / 1000 >= seconds


def _compare_overview(prom: PrometheusServer, targets: list[str], at: float, window: str) -> int:
    """Each overview query over both exporters equals its value over either exporter alone; returns how
    many non-zero series were compared."""
    overview = next(p for p in DASHBOARDS if p.name == "extend-runs-overview.json")
    compared = 0
    problems: list[str] = []
    for query in dashboard_queries(overview):
        text = query.text.replace("$__range", window).replace("$__rate_interval", window)
        exact = "rate(" not in text and "increase(" not in text and "oldest_active_age" not in text
        both = _values(prom, substitute(text), at)
        for target in targets:
            single = _values(prom, substitute(text.replace("$instance", target)), at)
            if set(both) != set(single):
                problems.append(f"{query.where}: series {sorted(both)} vs one exporter's {sorted(single)}")
                continue
            for key, value in single.items():
                got = both[key]
                if math.isnan(value) or math.isnan(got):
                    if math.isnan(value) != math.isnan(got):
                        problems.append(f"{query.where} {dict(key)}: {got} with both, {value} with one")
                    continue
                allowed = 0.0 if exact else EXTRAPOLATION_TOLERANCE * abs(value)
                if "oldest_active_age" in text:  # each exporter re-renders ages every 5 s, at its own time
                    allowed += AGE_REFRESH_SECONDS
                if abs(got - value) > allowed:
                    problems.append(f"{query.where} {dict(key)}: {got} with both, {value} with one exporter")
                elif value != 0:
                    compared += 1
    assert not problems, "\n".join(problems)
    return compared


def test_the_batch_alerts_return_data_on_a_failed_and_a_held_batch(spiked_stack: Stack) -> None:
    stack, prom = spiked_stack, spiked_stack.prometheus
    now = stack.sim.virtual_elapsed()
    stack.sim.script(FailureSpike(family="parse", start=now, end=now + 20.0, failure_rate=1.0))
    failed = stack.sim.submit_batch("parse", 3)
    held = stack.sim.submit_batch("parse", 5, hold_seconds=600)
    # The spike may fail the workload's own parse batches too: wait for this one, counted as FAILED.
    wait_until(
        lambda: prom.query(f'extend_batch_info{{batch_id="{failed}", status="FAILED"}}'),
        timeout=30,
        interval=0.2,
        message="the batch whose runs all failed shown FAILED",
    )
    assert stack.sim.batch_status(failed) == "FAILED"
    hits = wait_until(
        lambda: prom.query(_rule_expr("ExtendBatchFailed")),
        timeout=30,
        interval=0.2,
        message="batch-failed expression true after a batch whose runs all failed",
    )
    kinds = {h["metric"]["kind"] for h in hits}
    assert "parse_run" in kinds
    # Besides: batches the stack's webhooks named (the workload's extract batches its extract spike
    # failed). Every kind the expression returns has a batch shown FAILED, and each is FAILED in truth.
    shown_failed = prom.query('extend_batch_info{status="FAILED"}')
    assert kinds <= {r["metric"]["kind"] for r in shown_failed}
    for row in shown_failed:
        assert stack.sim.batch_status(row["metric"]["batch_id"]) == "FAILED", row["metric"]
    # The stalled expression with its 30m threshold lowered to 2s: the held batch shows.
    stalled = _rule_expr("ExtendBatchStalled").replace("> 1800", "> 2")
    hits = wait_until(
        lambda: [h for h in prom.query(stalled) if h["metric"]["batch_id"] == held],
        timeout=30,
        interval=0.2,
        message="batch-stalled expression true for the held batch",
    )
    assert hits[0]["metric"]["kind"] == "parse_run"


# --- exemplars: from a spike to the run ------------------------------------------------------------------


def _stored_exemplars(prom: PrometheusServer, query: str) -> list[dict[str, Any]]:
    now = time.time()
    result: list[dict[str, Any]] = prom.api(
        "query_exemplars", query=query, start=f"{now - 3600:.3f}", end=f"{now + 60:.3f}"
    )
    return result


def test_exemplars_of_the_failure_counters_name_runs_that_failed_in_the_simulator(
    spiked_stack: Stack,
) -> None:
    """Prometheus scrapes OpenMetrics and stores the exemplars: each names a run the simulator has, that
    FAILED there, of the series' kind and reason (or source and processor type)."""
    stack = spiked_stack
    prom = stack.prometheus
    failed_query = f'extend_runs_failed_total{{job="{JOB}"}}'
    finished_query = f'extend_runs_finished_total{{job="{JOB}", status="FAILED"}}'
    names = ("extend_runs_failed_total", "extend_runs_finished_total")

    def stored() -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
        failed, finished = _stored_exemplars(prom, failed_query), _stored_exemplars(prom, finished_query)
        # The spike made extract runs fail in numbers; the other kinds fail now and then (5%).
        spiked = [s for s in (*failed, *finished) if s["seriesLabels"]["kind"] == "extract_run"]
        return (failed, finished) if {s["seriesLabels"]["__name__"] for s in spiked} == {*names} else None

    failed, finished = wait_until(stored, timeout=45, interval=0.5, message="exemplars of FAILED runs stored")
    (target,) = prom.api("targets")["activeTargets"]
    assert (target["health"], target["lastError"]) == ("up", ""), target  # Prometheus' OpenMetrics parser
    seed = stack.sim.config.seed
    checked = 0
    for series in failed + finished:
        labels = series["seriesLabels"]
        for exemplar in series["exemplars"]:
            assert set(exemplar["labels"]) == {"run_id"}, exemplar
            run = stack.sim.get_run(exemplar["labels"]["run_id"])
            assert run is not None and run.status == "FAILED", (labels, exemplar)
            assert KIND[run.fam] == labels["kind"], (labels, exemplar)
            if labels["__name__"] == "extend_runs_failed_total":
                assert derive.failure_reason(seed, run) == labels["failure_reason"], (labels, exemplar)
            else:
                # Prometheus keeps no empty label: a kind without sources or processor types has none.
                series_key = (
                    labels["kind"],
                    "FAILED",
                    labels.get("source", ""),
                    labels.get("processor_type", ""),
                )
                assert series_key in labels4(run, "FAILED"), (labels, exemplar)
            assert float(exemplar["value"]) == 1.0
            assert run.created / 1000 <= float(exemplar["timestamp"]) <= run.updated / 1000 + 0.001, exemplar
            checked += 1
    assert checked >= len(names), (failed, finished)
    # What Grafana asks for a panel with exemplars on: the panel's own query finds them.
    overview = next(p for p in DASHBOARDS if p.name == "extend-runs-overview.json")
    asking = [p for p in panels(load_json(overview)) if any(t.get("exemplar") for t in p.get("targets", []))]
    for panel in asking:
        query = substitute(panel["targets"][0]["expr"])
        found = wait_until(
            lambda: _stored_exemplars(prom, query),  # noqa: B023
            timeout=30,
            interval=0.5,
            message=f"exemplars of {panel['title']}",
        )
        assert all(e["labels"]["run_id"] for s in found for e in s["exemplars"]), panel["title"]
    print(f"\n{checked} stored exemplars of the failure counters, each a FAILED run of the simulator")
