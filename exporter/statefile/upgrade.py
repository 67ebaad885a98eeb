"""Older state files brought to this version: the file's layout, and a kind's label spelling.

Version 1 held one workspace's kinds at the top (`kinds`); version 2 holds a section per workspace
(`workspaces: {id: {kinds: ...}}`). A version 1 file becomes the unnamed section, which the first
workspace configured takes over (store.py).

Before `OTHER` was the one overflow label value, a status past the cap counted as `UNKNOWN` and a
resource ID past the cap as `other`. Both read as `OTHER` now; rows that meet under the new spelling
are added together, so every count is kept. A real status or ID of the old spelling (listed among
the kind's extra statuses or resource names) is left alone, which also makes this a no-op on files
written since. Malformed parts pass through untouched for `KindState.load_dict` to reject.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..metrics.labels import LEGACY_OTHER_RESOURCE, LEGACY_OTHER_STATUS, OTHER

VERSION = 2
#: The section of a workspace polled without an ID (a workspace key), and of a version 1 file: an ID
#: is never empty, so it names no configured workspace.
UNNAMED_SECTION = ""


def upgrade_file(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """A parsed state file in this version's layout (other versions pass through, to be refused)."""
    if data.get("version") != 1:
        return data
    kinds = data.get("kinds")
    if not isinstance(kinds, dict):
        raise ValueError("'kinds' is not a mapping")
    upgraded = {k: v for k, v in data.items() if k not in ("kinds", "batches")}
    section = {"kinds": kinds, **({"batches": data["batches"]} if "batches" in data else {})}
    return {**upgraded, "version": VERSION, "workspaces": {UNNAMED_SECTION: section}}


def upgrade_kind(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """`data` with the old overflow spellings renamed to OTHER (a new mapping; `data` is not changed)."""
    extra, names = data.get("extra_statuses"), data.get("resource_names")
    old_status = LEGACY_OTHER_STATUS if isinstance(extra, list) and LEGACY_OTHER_STATUS not in extra else None
    old_rid = (
        LEGACY_OTHER_RESOURCE if isinstance(names, dict) and LEGACY_OTHER_RESOURCE not in names else None
    )
    if old_status is None and old_rid is None:
        return data

    def status(value: Any) -> Any:
        return OTHER if old_status is not None and value == old_status else value

    def rid(value: Any) -> Any:
        return OTHER if old_rid is not None and value == old_rid else value

    out = dict(data)
    out["finished"] = _merged(data.get("finished"), 3, lambda r: [status(r[0]), *r[1:]])
    out["durations"] = _merged(data.get("durations"), 2, lambda r: [status(r[0]), *r[1:]])
    out["finished_by_resource"] = _merged(
        data.get("finished_by_resource"), 2, lambda r: [status(r[0]), rid(r[1]), *r[2:]]
    )
    entries = data.get("entries")
    if isinstance(entries, dict):
        out["entries"] = {
            run: [status(v[0]), *v[1:5], [status(c) for c in v[5]], rid(v[6]), *v[7:]]
            if isinstance(v, list) and len(v) >= 7 and isinstance(v[5], list)
            else v
            for run, v in entries.items()
        }
    return out


def _merged(rows: Any, labels: int, rename: Callable[[list[Any]], list[Any]]) -> Any:
    """Rows of `labels` label values and then values, renamed; rows that meet are added together."""
    if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) > labels for r in rows):
        return rows
    out: dict[tuple[Any, ...], list[Any]] = {}
    for row in map(rename, rows):
        key = tuple(row[:labels])
        seen = out.get(key)
        out[key] = row if seen is None else [*key, *_add(seen[labels:], row[labels:])]
    return list(out.values())


def _add(a: Any, b: Any) -> Any:
    """Counts, sums and bucket lists, added element by element."""
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [_add(x, y) for x, y in zip(a, b, strict=True)]
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a + b
    raise ValueError("state rows that meet under the new label spelling hold no numbers")
