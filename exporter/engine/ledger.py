"""One tracked run of a kind's ledger (`Entry`), kept small: a ledger can hold a million of them.

What a run is counted under (`RunLabels`: status, source, processor type, what was counted,
resource) is shared between runs: there are few distinct combinations (statuses x sources x types x
what was counted), so a million tracked runs hold a few hundred label tuples, not a million.
`RunLabels` is a NamedTuple, the same size as a plain tuple. Bytes per run: bench/results.md, row 4
(`bench.memory`).
"""

from __future__ import annotations

from typing import NamedTuple

from ..kinds import PROCESSOR_TYPES

CREDITED = "$credited"  # marker in RunLabels.counted: the run's credits have been added


class RunLabels(NamedTuple):
    """What one tracked run is counted under; one shared instance per distinct combination."""

    status: str
    source: str
    processor_type: str
    # Terminal statuses already counted (or the status it had finished in before counting began),
    # and CREDITED once its credits were added.
    counted: tuple[str, ...]
    resource_id: str | None  # per-resource label value, when that breakdown is enabled


# Keyed by plain tuples too (a NamedTuple equals and hashes as the tuple of its fields), so a lookup
# builds no RunLabels. Bounded: past the cap (label values no enum has) labels are simply not shared.
_SHARED: dict[tuple[str, str, str, tuple[str, ...], str | None], RunLabels] = {}
_MAX_SHARED = 100_000
# Canonical processor_type strings, so entries do not each hold a copy parsed from JSON.
PROCESSOR_TYPE_STRINGS: dict[str, str] = {p: p for p in ("", *PROCESSOR_TYPES)}


def _shared_labels(
    status: str, source: str, processor_type: str, counted: tuple[str, ...], resource_id: str | None
) -> RunLabels:
    """The shared RunLabels of this combination (a new one when not seen before)."""
    key = (status, source, processor_type, counted, resource_id)
    labels = _SHARED.get(key)
    if labels is None:
        labels = RunLabels(*key)
        if len(_SHARED) < _MAX_SHARED:
            _SHARED[labels] = labels
    return labels


class Entry:
    """One tracked run: its shared `labels`, plus `created_at` and `key` (the order key, updatedAt
    or createdAt, as last seen), the only per-run values besides the id that maps to it."""

    __slots__ = ("created_at", "key", "labels")

    def __init__(
        self,
        status: str,
        source: str,
        processor_type: str,
        created_at: float,
        key: float,
        counted: tuple[str, ...] = (),
        resource_id: str | None = None,
    ) -> None:
        self.labels: RunLabels = _shared_labels(status, source, processor_type, counted, resource_id)
        self.created_at = created_at
        self.key = key

    @property
    def status(self) -> str:
        return self.labels.status

    @status.setter
    def status(self, value: str) -> None:
        old = self.labels
        self.labels = _shared_labels(value, old.source, old.processor_type, old.counted, old.resource_id)

    @property
    def source(self) -> str:
        return self.labels.source

    @property
    def processor_type(self) -> str:
        return self.labels.processor_type

    @property
    def counted(self) -> tuple[str, ...]:
        return self.labels.counted

    @counted.setter
    def counted(self, value: tuple[str, ...]) -> None:
        old = self.labels
        self.labels = _shared_labels(old.status, old.source, old.processor_type, value, old.resource_id)

    @property
    def resource_id(self) -> str | None:
        return self.labels.resource_id

    @resource_id.setter
    def resource_id(self, value: str | None) -> None:
        old = self.labels
        self.labels = _shared_labels(old.status, old.source, old.processor_type, old.counted, value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Entry):
            return NotImplemented
        return (self.labels, self.created_at, self.key) == (other.labels, other.created_at, other.key)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaced

    def __repr__(self) -> str:
        labels = self.labels
        return (
            f"Entry(status={labels.status!r}, source={labels.source!r}, "
            f"processor_type={labels.processor_type!r}, created_at={self.created_at!r}, "
            f"key={self.key!r}, counted={labels.counted!r}, resource_id={labels.resource_id!r})"
        )
