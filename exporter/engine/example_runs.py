"""Example runs: for a series, the run counted there that finished last (exemplars on /metrics).

An example is a plain tuple (run id, value, finish time), not a NamedTuple: one is built on the finish
path of every run (its duration bucket's), where a NamedTuple costs ten times as much. The run's finish
time, not the exporter's clock, stamps it, and an example is replaced only by a run that finished at the
same time or later: the time a series' example carries never goes back, since Prometheus drops an
exemplar older than the last one it stored for that series. A leaf module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# (run id, value: 1 for a counted run or the run's duration, its finish time in Unix seconds)
Example = tuple[str, float, float]
# Label values after `kind` -> the example of that series, for one family.
Examples = dict[tuple[str, ...], Example]


def offer(examples: Examples, labels: tuple[str, ...], run_id: str, value: float, at: float) -> None:
    """Make the run the example of `labels`, unless the current one finished later."""
    current = examples.get(labels)
    if current is None or at >= current[2]:
        examples[labels] = (run_id, value, at)


def to_rows(by_family: Mapping[str, Mapping[tuple[str, ...], Example]]) -> dict[str, list[list[Any]]]:
    """The state file's form: family name -> [[label values], run id, value, finish time]."""
    return {
        name: [[list(labels), *example] for labels, example in rows.items()]
        for name, rows in by_family.items()
    }


def from_rows(data: Any) -> dict[str, Examples]:
    """From `to_rows` output; raises (TypeError, ValueError) when malformed."""
    if not isinstance(data, dict):
        raise TypeError("examples: not an object")
    return {
        str(name): {
            tuple(str(v) for v in labels): (str(run_id), float(value), float(at))
            for labels, run_id, value, at in rows
        }
        for name, rows in data.items()
    }
