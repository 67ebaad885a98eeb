"""The counting state of one run kind and its transitions.

Pure: no I/O, no clock reads (times come in as arguments), so property-based tests can drive it with
arbitrary interleavings. The sync (`exporter/sync/`) feeds it what the API listed, and asks it only
through the named methods below; it decides what was created, what finished, and what is active.

The ledger holds every active run plus every run seen inside the overlap window (runs whose order key
is at or after `position - overlap`). The rule that makes counts exact:

* a run already in the ledger is counted when its status changes to a terminal status it has not
  been counted for;
* a run not in the ledger is *new* (created since the last sync) when its `createdAt` is inside the
  overlap window: had it existed and been visible at the last sync, that sync would have listed it
  (its order key is at least its creation time), so it would be in the ledger. A new run counts as
  created, and as finished when it is already terminal;
* a run not in the ledger from before the window existed at the last sync; since every run active
  then is in the ledger, it was already terminal then (finished before counting began, or counted and
  since forgotten): it is not counted again. Such runs are recorded only while inside the window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..kinds import (
    ACTIVE_STATUSES,
    UNKNOWN_SOURCE,
    KindSpec,
    Order,
    is_active_status,
    label_processor_types,
    label_sources,
)
from ..metrics.families import RUN_DURATION, RUNS_FINISHED
from ..metrics.labels import MAX_EXTRA_STATUSES, OTHER
from . import accumulators, example_runs
from .example_runs import Example, Examples
from .histogram import DURATION_BUCKETS, Histogram, HistogramValue
from .ledger import CREDITED, PROCESSOR_TYPE_STRINGS, Entry, RunLabels
from .lookups import ActiveLookups
from .observation import Observation

# The engine's input type and its histograms' buckets, so that its callers need one import.
__all__ = [
    "DURATION_BUCKETS",
    "MAX_STATUS_LEN",
    "ApplyResult",
    "KindSnapshot",
    "KindState",
    "Observation",
    "ResourceLabels",
]

# A status value outside the documented enums becomes a label value as it is (enums grow), up to
# MAX_EXTRA_STATUSES per kind; beyond that, or longer than this, it counts under OTHER.
MAX_STATUS_LEN = 40


@dataclass(frozen=True)
class ResourceLabels:
    """Opt-in per-processor / per-workflow breakdown: which IDs may become label values."""

    enabled: bool = False
    allow: frozenset[str] = frozenset()
    max_values: int = 100


@dataclass(frozen=True)
class KindSnapshot:
    """Immutable values of one kind at the end of a sync; what /metrics renders."""

    kind: str
    created: Mapping[tuple[str, str], int]
    finished: Mapping[tuple[str, str, str], int]
    credits: Mapping[tuple[str, str], float]
    durations: Mapping[tuple[str, str], HistogramValue]
    active: Mapping[tuple[str, str, str], int]
    oldest_active_created: Mapping[str, float]
    finished_by_resource: Mapping[tuple[str, str], int]
    resource_names: Mapping[str, str]
    tracked: int
    # family name -> its rows (label values after `kind`, value), from the kind's accumulators
    families: Mapping[str, accumulators.Rows] = field(default_factory=dict)
    # family name -> label values after `kind` (with `le` last for buckets) -> the series' example run
    examples: Mapping[str, Mapping[tuple[str, ...], Example]] = field(default_factory=dict)


@dataclass(frozen=True)
class ApplyResult:
    created: int = 0
    finished: int = 0
    removed: int = 0


@dataclass
class KindState:
    spec: KindSpec
    resource_labels: ResourceLabels = field(default_factory=ResourceLabels)
    usage_tags: frozenset[str] = frozenset()  # opt-in: tags whose credits are counted apart
    position: float | None = None  # newest order key of the last completed sync; None: no baseline yet
    # Start of the overlap window of the last sync: the ledger holds every run whose key is at or after
    # it, which is what makes "not in the ledger and created inside the window" mean "new".
    window: float | None = None
    last_success: float | None = None  # Unix time of the last completed sync (kept across restarts)
    order: Order | None = None  # None: the kind's default order, not yet confirmed by a listing
    entries: dict[str, Entry] = field(default_factory=dict)
    created: dict[tuple[str, str], int] = field(default_factory=dict)
    finished: dict[tuple[str, str, str], int] = field(default_factory=dict)
    credits: dict[tuple[str, str], float] = field(default_factory=dict)
    durations: dict[tuple[str, str], Histogram] = field(default_factory=dict)
    finished_by_resource: dict[tuple[str, str], int] = field(default_factory=dict)
    resource_names: dict[str, str] = field(default_factory=dict)
    extra_statuses: set[str] = field(default_factory=set)
    # What else a finish counts (failure reasons, pages, ...): one accumulator per family, built from
    # the spec; each owns its labels, zero-initialisation and state-file section.
    accumulators: tuple[accumulators.Accumulator, ...] = field(default=(), init=False, compare=False)
    # Example runs of the FAILED series of `finished` and of the accumulators' families that carry
    # exemplars, by family name; the durations keep theirs in their histograms.
    examples: dict[str, Examples] = field(default_factory=dict)
    # File name and batch of each active run of a creation-ordered kind: the sync finds such a run by them
    # once it leaves the active set (lookups.py). Bounded by the active set.
    lookups: ActiveLookups = field(default_factory=ActiveLookups)
    # status value -> its canonical string (the spec's), so entries share one string per status
    _canonical: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._canonical = {s: s for s in self.spec.all_statuses}
        self.accumulators = accumulators.for_kind(self.spec, self.usage_tags)
        self._init_series()

    def _init_series(self) -> None:
        """Known label combinations start at 0 so increase() sees the very first FAILED run."""
        for source in label_sources(self.spec):
            for ptype in label_processor_types(self.spec):
                self.created.setdefault((source, ptype), 0)
                self.credits.setdefault((source, ptype), 0.0)
                for status in self.spec.terminal_statuses:
                    self.finished.setdefault((status, source, ptype), 0)
        for ptype in label_processor_types(self.spec):
            for status in self.spec.terminal_statuses:
                self.durations.setdefault((status, ptype), Histogram.empty(examples=True))

    @property
    def effective_order(self) -> Order:
        return self.order or self.spec.default_order

    def status_label(self, status: str) -> str:
        canonical = self._canonical.get(status)
        if canonical is not None:
            return canonical
        if status in self.extra_statuses:
            return status
        clean = status if status.replace("_", "").isalnum() and len(status) <= MAX_STATUS_LEN else ""
        if clean and clean != OTHER and len(self.extra_statuses) < MAX_EXTRA_STATUSES:
            self.extra_statuses.add(clean)
            return clean
        return OTHER

    def order_key(self, obs: Observation) -> float:
        return obs.created_at if self.effective_order is Order.CREATED else obs.updated_at

    def needs_source(self, obs: Observation, baseline: bool) -> bool:
        """Whether counting this observation needs the run's source (summaries do not carry it)."""
        if not self.spec.sources or self.spec.source_in_summary or obs.id in self.entries:
            return False
        if is_active_status(obs.status):
            return True
        return not baseline and self._is_new(obs)

    def _is_new(self, obs: Observation) -> bool:
        return self.window is not None and obs.created_at >= self.window

    def oldest_active_key(self) -> float | None:
        active = ACTIVE_STATUSES
        keys = [e.created_at for e in self.entries.values() if e.labels.status in active]
        return min(keys) if keys else None

    def apply(
        self,
        observations: Iterable[Observation],
        sources: Mapping[str, str],
        *,
        overlap: float,
        new_position: float | None,
        baseline: bool = False,
        reconciled: set[str] | None = None,
        settled: bool = True,
    ) -> ApplyResult:
        """Fold one sync's observations (latest summary per run) into the counters.

        `reconciled`, when given, holds the id of every run the status-filtered listings and the scan
        returned: active runs missing from it were deleted (or their transition was lost) and leave
        the active gauges. `settled` is False when the list kept changing under every re-read: a run
        may then have been missed, so the window does not move forward and the next sync still
        recognises runs created since the previous one as new.
        """
        created = finished = 0
        prune_start = (new_position - overlap) if new_position is not None else None
        # Hot loop (every summary of every sync): hoisted lookups; same rule as the module docstring.
        entries = self.entries
        canonical = self._canonical
        active_statuses = ACTIVE_STATUSES
        by_created = self.effective_order is Order.CREATED
        has_sources = bool(self.spec.sources)
        resources = self.resource_labels.enabled
        window = None if baseline else self.window  # a run is new when created at or after it
        for obs in observations:
            entry = entries.get(obs.id)
            status = canonical.get(obs.status) or self.status_label(obs.status)
            terminal = status not in active_statuses
            key = obs.created_at if by_created else obs.updated_at
            if entry is None:
                is_new = window is not None and obs.created_at >= window
                if not is_new and terminal and prune_start is not None and key < prune_start:
                    continue  # finished before the window: nothing to count, nothing to remember
                ptype = PROCESSOR_TYPE_STRINGS.get(obs.processor_type, OTHER)  # legacy `type` is an open enum
                if not has_sources:
                    source = ""
                elif obs.source is not None:
                    source = obs.source
                else:
                    source = sources.get(obs.id, UNKNOWN_SOURCE)
                rid = self._resource_label(obs.resource) if resources and obs.resource is not None else None
                if not is_new:
                    counted: tuple[str, ...] = (status,) if terminal else ()
                    entries[obs.id] = Entry(status, source, ptype, obs.created_at, key, counted, rid)
                    continue
                entry = entries[obs.id] = Entry(status, source, ptype, obs.created_at, key, (), rid)
                self.created[(source, ptype)] = self.created.get((source, ptype), 0) + 1
                created += 1
                if terminal:
                    self._count_finish(entry, obs, status)
                    finished += 1
                continue
            entry.key = key
            labels = entry.labels
            if status != labels.status:
                entry.status = status
                if terminal and status not in labels.counted:
                    self._count_finish(entry, obs, status)
                    finished += 1
        removed = 0 if reconciled is None else self._drop_unreconciled(reconciled)
        if new_position is not None:
            self._advance(new_position, overlap, settled)
        return ApplyResult(created, finished, removed)

    def _drop_unreconciled(self, reconciled: set[str]) -> int:
        """Drop the active runs no listing of this sync returned (deleted); returns how many."""
        active = ACTIVE_STATUSES
        gone = [rid for rid, e in self.entries.items() if e.labels.status in active and rid not in reconciled]
        for rid in gone:
            del self.entries[rid]
        return len(gone)

    def _advance(self, new_position: float, overlap: float, settled: bool) -> None:
        self.position = new_position if self.position is None else max(self.position, new_position)
        # The window never moves back: runs before it were pruned, and moving it back would let them
        # look new again. When the list did not settle it holds still instead of advancing.
        candidate = self.position - overlap
        if self.window is None:
            self.window = candidate
        elif settled:
            self.window = max(self.window, candidate)
        self._prune(self.window)

    def _prune(self, start: float) -> None:
        active = ACTIVE_STATUSES
        stale = [rid for rid, e in self.entries.items() if e.key < start and e.labels.status not in active]
        for rid in stale:
            del self.entries[rid]

    def _resource_label(self, resource: tuple[str, str]) -> str | None:
        cfg = self.resource_labels
        if not cfg.enabled:
            return None
        rid, name = resource
        if (cfg.allow and rid not in cfg.allow) or (
            rid not in self.resource_names and len(self.resource_names) >= cfg.max_values
        ):
            rid = OTHER
        elif rid not in self.resource_names:
            self.resource_names[rid] = name
        for status in self.spec.terminal_statuses:  # start at 0 so increase() sees the first failure
            self.finished_by_resource.setdefault((status, rid), 0)
        return rid

    def _count_finish(self, entry: Entry, obs: Observation, status: str) -> None:
        labels = entry.labels
        source, ptype, counted = labels.source, labels.processor_type, labels.counted
        key = (status, source, ptype)
        self.finished[key] = self.finished.get(key, 0) + 1
        start = obs.started_at if obs.started_at is not None else obs.created_at
        end = obs.finished_at if obs.finished_at is not None else obs.updated_at
        hist = self.durations.get((status, ptype))
        if hist is None:
            hist = self.durations[(status, ptype)] = Histogram.empty(examples=True)
        hist.observe(max(0.0, end - start), obs.id, end)
        if status == accumulators.FAILED:
            example_runs.offer(self.examples.setdefault(RUNS_FINISHED.name, {}), key, obs.id, 1.0, end)
        if obs.credits is not None and CREDITED not in counted:
            ckey = (source, ptype)
            self.credits[ckey] = self.credits.get(ckey, 0.0) + obs.credits
            counted = (*counted, CREDITED)
        entry.counted = (*counted, status)
        if labels.resource_id is not None:
            rkey = (status, labels.resource_id)
            self.finished_by_resource[rkey] = self.finished_by_resource.get(rkey, 0) + 1
        for acc in self.accumulators:
            series = acc.on_finish(obs, status)
            if series is not None:
                example_runs.offer(self.examples.setdefault(acc.family.name, {}), series, obs.id, 1.0, end)

    def snapshot(self) -> KindSnapshot:
        active: dict[tuple[str, str, str], int] = {}
        for source in label_sources(self.spec):
            for ptype in label_processor_types(self.spec):
                for status in self.spec.active_statuses:
                    active[(status, source, ptype)] = 0
        oldest: dict[str, float] = {}
        # Entries share their labels: count per shared RunLabels first, then fold into label sets.
        per_labels: dict[RunLabels, int] = {}
        active_statuses = ACTIVE_STATUSES
        for e in self.entries.values():
            labels = e.labels
            status = labels.status
            if status not in active_statuses:
                continue
            per_labels[labels] = per_labels.get(labels, 0) + 1
            first = oldest.get(status)
            if first is None or e.created_at < first:
                oldest[status] = e.created_at
        for labels, n in per_labels.items():
            akey = (labels.status, labels.source, labels.processor_type)
            active[akey] = active.get(akey, 0) + n
        return KindSnapshot(
            kind=self.spec.name,
            created=dict(self.created),
            finished=dict(self.finished),
            credits=dict(self.credits),
            durations={k: h.value() for k, h in self.durations.items()},
            active=active,
            oldest_active_created=oldest,
            finished_by_resource=dict(self.finished_by_resource),
            resource_names=dict(self.resource_names),
            tracked=len(self.entries),
            families={acc.family.name: acc.rows() for acc in self.accumulators},
            examples=self._examples(),
        )

    def _examples(self) -> dict[str, Examples]:
        """Every example run, the durations' included (keyed status, processor type, le)."""
        out = {name: dict(rows) for name, rows in self.examples.items()}
        durations: Examples = {
            (*key, le): ex
            for key, hist in self.durations.items()
            for le, ex in hist.examples_by_bucket().items()
        }
        if durations:
            out[RUN_DURATION.name] = durations
        return out

    # --- what the sync asks of the ledger (it reads no field of it) ------------------------------

    def adopt_order(self, order: Order) -> None:
        """The listing turned out to be in `order`, not the one assumed so far."""
        self.order = order

    def active_created_before(self, bound: float) -> dict[str, float]:
        """Tracked active runs created before `bound`: run id -> createdAt."""
        active = ACTIVE_STATUSES
        return {
            rid: e.created_at
            for rid, e in self.entries.items()
            if e.labels.status in active and e.created_at < bound
        }

    def forget_active(self, run_ids: Iterable[str]) -> None:
        """Stop tracking those of `run_ids` still tracked as active: no listing returns them any more
        (deleted), so they leave the active gauges."""
        entries = self.entries
        for rid in run_ids:
            entry = entries.get(rid)
            if entry is not None and entry.labels.status in ACTIVE_STATUSES:
                del entries[rid]

    def source_of(self, run_id: str) -> str | None:
        """The source a tracked run is counted under; None when the run is not tracked."""
        entry = self.entries.get(run_id)
        return None if entry is None else entry.labels.source

    def source_weight(self, source: str) -> int:
        """How many runs were counted as created from `source`: busy sources are asked first."""
        return sum(v for (s, _), v in self.created.items() if s == source)

    def file_name(self, run_id: str) -> str | None:
        return self.lookups.names.get(run_id)

    def batch_of(self, run_id: str) -> str | None:
        return self.lookups.batches.get(run_id)

    def remember_lookups(self, run_id: str, name: str | None, batch: str | None = None) -> None:
        self.lookups.remember(run_id, name, batch)

    def prune_lookups(self, also_active: Iterable[str]) -> None:
        """Keep the file names and batches of runs tracked as active and of `also_active` (seen active
        in this sync, not yet applied); forget the rest: they stay bounded by the active set."""
        keep = {rid for rid, e in self.entries.items() if e.labels.status in ACTIVE_STATUSES}
        keep.update(also_active)
        self.lookups.keep_only(keep)

    # --- persistence (statefile/store.py owns the file; these only convert) ---------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "window": self.window,
            "last_success": self.last_success,
            "order": self.order.value if self.order else None,
            "entries": {rid: _entry_to_list(e) for rid, e in self.entries.items()},
            "created": [[*k, v] for k, v in self.created.items()],
            "finished": [[*k, v] for k, v in self.finished.items()],
            "credits": [[*k, v] for k, v in self.credits.items()],
            "durations": [[*k, h.buckets, h.total, h.count] for k, h in self.durations.items()],
            "finished_by_resource": [[*k, v] for k, v in self.finished_by_resource.items()],
            "resource_names": self.resource_names,
            "extra_statuses": sorted(self.extra_statuses),
            **{acc.section: acc.to_dict() for acc in self.accumulators},
            **self.lookups.to_dict(),
            "examples": example_runs.to_rows(self._examples()),
        }

    def load_dict(self, data: Mapping[str, Any]) -> None:
        """Restore from `to_dict` output; raises (KeyError, TypeError, ValueError) on a malformed dict."""
        position = data["position"]
        self.position = None if position is None else float(position)
        window = data["window"]
        self.window = None if window is None else float(window)
        last = data.get("last_success")
        self.last_success = None if last is None else float(last)
        self.order = Order(data["order"]) if data.get("order") else None
        canonical = self._canonical
        self.entries = {
            str(rid): Entry(
                canonical.get(v[0]) or str(v[0]),
                str(v[1]),
                PROCESSOR_TYPE_STRINGS.get(v[2]) or str(v[2]),
                float(v[3]),
                float(v[4]),
                tuple(map(str, v[5])),
                v[6],
            )
            for rid, v in data["entries"].items()
        }
        self.created = {(str(s), str(p)): int(v) for s, p, v in data["created"]}
        self.finished = {(str(st), str(s), str(p)): int(v) for st, s, p, v in data["finished"]}
        self.credits = {(str(s), str(p)): float(v) for s, p, v in data["credits"]}
        self.durations = {
            (str(status), str(ptype)): Histogram.restore(buckets, total, count, examples=True)
            for status, ptype, buckets, total, count in data["durations"]
        }
        self.finished_by_resource = {(str(s), str(r)): int(v) for s, r, v in data["finished_by_resource"]}
        self.resource_names = {str(k): str(v) for k, v in data["resource_names"].items()}
        self.extra_statuses = {str(s) for s in data["extra_statuses"]}
        # A state file from before a family existed has no section for it: that family starts at 0.
        fresh = accumulators.for_kind(self.spec, self.usage_tags)
        for acc in fresh:
            if acc.section in data:
                acc.load_dict(data[acc.section])
        self.accumulators = fresh
        self.lookups = ActiveLookups()
        self.lookups.load_dict(data)
        self._init_series()
        # Files from before example runs were kept have none: they come with the next runs counted.
        self.examples = example_runs.from_rows(data.get("examples", {}))
        for (status, ptype, le), example in self.examples.pop(RUN_DURATION.name, {}).items():
            self.durations[(status, ptype)].restore_example(le, example)


def _entry_to_list(e: Entry) -> list[Any]:
    """An entry as the state file holds it: [status, source, processor_type, createdAt, key,
    counted, resource_id]."""
    labels = e.labels
    return [
        labels.status,
        labels.source,
        labels.processor_type,
        e.created_at,
        e.key,
        list(labels.counted),
        labels.resource_id,
    ]
