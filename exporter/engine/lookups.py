"""What the sync finds an active run by once it has left the active listings: its file name and its
batch (creation-ordered kinds, exporter/sync/old_active.py).

Kept for the runs tracked as active only (and those seen active in the sync under way), and across
restarts: a run that finished while the exporter was down is found the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ActiveLookups:
    names: dict[str, str] = field(default_factory=dict)  # run id -> file name
    batches: dict[str, str] = field(default_factory=dict)  # run id -> batch id

    def remember(self, run_id: str, name: str | None, batch: str | None) -> None:
        if name is not None:
            self.names[run_id] = name
        if batch is not None:
            self.batches[run_id] = batch

    def keep_only(self, keep: Iterable[str]) -> None:
        wanted = set(keep)
        self.names = {rid: n for rid, n in self.names.items() if rid in wanted}
        self.batches = {rid: b for rid, b in self.batches.items() if rid in wanted}

    def to_dict(self) -> dict[str, Any]:
        return {"file_names": self.names, "batch_ids": self.batches}

    def load_dict(self, data: Mapping[str, Any]) -> None:
        """A state file from before batches were kept has no `batch_ids`: those runs are found by name."""
        self.names = {str(k): str(v) for k, v in data.get("file_names", {}).items()}
        self.batches = {str(k): str(v) for k, v in data.get("batch_ids", {}).items()}
