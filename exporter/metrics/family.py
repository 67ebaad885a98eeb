"""What a metric family's declaration holds (families.py declares every family with it): name, type,
help, labels, stability, where its samples come from, opt-in."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .labels import Label

# The end of the help of every family whose values come from the syncs.
FROM_SYNCS = " Values come from periodic syncs with the Extend API."


class Type(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


class Stability(StrEnum):
    STABLE = "stable"
    EXPERIMENTAL = "experimental"


class FilledBy(StrEnum):
    """Where a family's samples come from."""

    SELF = "self"  # the exporter's own prometheus_client metrics (telemetry.py)
    LEDGER = "ledger"  # the engine's core counts of each kind, rendered by collector.py
    ACCUMULATOR = "accumulator"  # one accumulator per kind (accumulators.py), rendered by collector.py
    BATCHES = "batches"  # a workspace's batches and evaluation set runs (batches/), batch_collector.py


@dataclass(frozen=True)
class Family:
    name: str  # without the `_total` that counters get on exposition
    type: Type
    help: str
    labels: tuple[Label, ...]
    stability: Stability
    filled_by: FilledBy
    opt_in: str | None = None  # the Settings field that turns it on; None: always exposed
    per_workspace: bool = False  # one set of series per workspace; `labels` then ends in WORKSPACE
    # Its OpenMetrics samples carry an exemplar naming an example run (docs/exemplars.md).
    exemplars: bool = False

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)

    @property
    def own_label_names(self) -> tuple[str, ...]:
        """The labels a workspace's samples are recorded with: all but the `workspace` appended last."""
        return self.label_names[:-1] if self.per_workspace else self.label_names

    @property
    def exposed(self) -> str:
        """The name as exposed and queried: counters end in `_total`."""
        return f"{self.name}_total" if self.type is Type.COUNTER else self.name
