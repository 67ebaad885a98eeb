"""The sync talks to a kind's state only through KindState's named methods, never its fields."""

from __future__ import annotations

import ast
from pathlib import Path

import exporter
from exporter.engine.kind_state import KindState

SYNC_MODULES = sorted((Path(exporter.__file__).parent / "sync").glob("*.py"))
# What the sync may read or call on a KindState: its configuration, its position and window, and the
# methods that answer the sync's questions. Everything else (entries, counters, file names) is the
# engine's own.
ALLOWED = {
    "spec",
    "usage_tags",
    "position",
    "window",
    "effective_order",
    "order_key",
    "needs_source",
    "apply",
    "adopt_order",
    "oldest_active_key",
    "active_created_before",
    "forget_active",
    "source_of",
    "source_weight",
    "file_name",
    "batch_of",
    "remember_lookups",
    "prune_lookups",
}
# Fields of KindState and of a ledger entry that no sync module may name on anything.
INTERNALS = {"entries", "labels", "lookups", "file_names", "created", "finished", "_canonical"}


def state_attributes(tree: ast.AST) -> set[str]:
    """Attributes read on anything called `state` (a parameter, or `self.state`)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            owner = node.value
            if (isinstance(owner, ast.Name) and owner.id == "state") or (
                isinstance(owner, ast.Attribute) and owner.attr == "state"
            ):
                out.add(node.attr)
    return out


def test_the_sync_uses_only_the_named_interface_of_the_state() -> None:
    assert SYNC_MODULES
    used: set[str] = set()
    for path in SYNC_MODULES:
        tree = ast.parse(path.read_text())
        used |= state_attributes(tree)
        named = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert not named & INTERNALS, f"{path.name} reads {sorted(named & INTERNALS)}"
    assert used <= ALLOWED, f"the sync reads KindState.{sorted(used - ALLOWED)}"
    assert "apply" in used and "source_of" in used  # the check sees what it should


def test_the_allowed_names_exist_on_the_state() -> None:
    assert all(hasattr(KindState, name) or name in KindState.__dataclass_fields__ for name in ALLOWED)
