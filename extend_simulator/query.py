"""List endpoints: parameter validation, filters, ordering, pagination and opaque page tokens.

Cursor modes (``SimConfig.cursor_mode``):

* ``offset`` (default, hostile): the token encodes an offset into the *current* sorted, filtered view.  A run
  updated between two page requests jumps to the top (already-read pages) and every run above its old
  position shifts down by one: the client misses the moved run in this listing and sees the run at the page
  boundary twice.
* ``keyset``: the token encodes the sort key (timestamp, run id) of the last item returned; the next page
  starts strictly after it.  Updated runs move to the top and are missed; there are no duplicates.
* ``snapshot`` (friendly): the first page freezes the full filtered view (the run objects as they were);
  later pages slice that frozen view.  Runs deleted since are skipped (the page is then shorter).

Tokens are opaque ``base64(payload)==:base64(mac)`` strings that always contain ``+``, ``/``, ``=`` and ``:``
(like Extend's example), so clients must percent-encode them.  A token that does not verify -> 400.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from sortedcontainers import SortedList

from . import derive
from .catalog import Processor
from .enums import (
    API_V_CURRENT,
    API_V_LEGACY,
    API_V_OLDEST,
    EDIT_SOURCES,
    EDIT_STATUSES,
    PARSE_SOURCES,
    PARSE_STATUSES,
    PROCESSED,
    PROCESSOR_STATUSES,
    RISK_LEVELS,
    RUN_SOURCES,
    TYPE_TO_FAMILY,
    VERIFY_SOURCES,
    VERIFY_STATUSES,
    WORKFLOW_STATUSES,
)
from .model import Run, World, key_seq

ALL_VERSIONS = frozenset({API_V_OLDEST, API_V_LEGACY, API_V_CURRENT})
CURRENT_ONLY = frozenset({API_V_CURRENT})


class BadRequest(Exception):
    """A 400 INVALID_REQUEST with a message."""


@dataclass(frozen=True)
class ListEndpoint:
    path: str
    group: str
    versions: frozenset[str]
    statuses: tuple[str, ...]
    sources: tuple[str, ...] | None
    id_param: str | None
    batch_param: bool
    source_id_param: bool
    sortable: bool
    type_param: bool = False
    risk_param: bool = False  # /verify_runs: riskLevel, matching PROCESSED runs only


LIST_ENDPOINTS: dict[str, ListEndpoint] = {
    "/processor_runs": ListEndpoint(
        "/processor_runs",
        "processor",
        ALL_VERSIONS,
        PROCESSOR_STATUSES,
        RUN_SOURCES,
        "processorId",
        False,
        True,
        True,
        type_param=True,
    ),
    "/workflow_runs": ListEndpoint(
        "/workflow_runs", "workflow", ALL_VERSIONS, WORKFLOW_STATUSES, None, "workflowId", True, False, True
    ),
    "/extract_runs": ListEndpoint(
        "/extract_runs",
        "extract",
        CURRENT_ONLY,
        PROCESSOR_STATUSES,
        RUN_SOURCES,
        "extractorId",
        True,
        True,
        True,
    ),
    "/classify_runs": ListEndpoint(
        "/classify_runs",
        "classify",
        CURRENT_ONLY,
        PROCESSOR_STATUSES,
        RUN_SOURCES,
        "classifierId",
        True,
        True,
        True,
    ),
    "/split_runs": ListEndpoint(
        "/split_runs", "split", CURRENT_ONLY, PROCESSOR_STATUSES, RUN_SOURCES, "splitterId", True, True, True
    ),
    "/parse_runs": ListEndpoint(
        "/parse_runs", "parse", CURRENT_ONLY, PARSE_STATUSES, PARSE_SOURCES, None, True, True, False
    ),
    "/edit_runs": ListEndpoint(
        "/edit_runs", "edit", CURRENT_ONLY, EDIT_STATUSES, EDIT_SOURCES, None, False, False, True
    ),
    "/verify_runs": ListEndpoint(
        "/verify_runs",
        "verify",
        CURRENT_ONLY,
        VERIFY_STATUSES,
        VERIFY_SOURCES,
        None,
        False,
        True,
        True,
        risk_param=True,
    ),
}

_INT_RE = re.compile(r"^[0-9]{1,7}$")


@dataclass
class ListQuery:
    group: str
    status: str | None
    source: str | None
    sort_by: str
    desc: bool
    page_size: int
    token: str | None
    predicate: Callable[[Run], bool] | None


def _one(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest(f"Query parameter '{name}' must be given at most once.")
    return values[0]


def _enum(params: dict[str, list[str]], name: str, allowed: Iterable[str]) -> str | None:
    value = _one(params, name)
    if value is None:
        return None
    allowed_t = tuple(allowed)
    if value not in allowed_t:
        raise BadRequest(f"Invalid value for '{name}': must be one of {', '.join(allowed_t)}.")
    return value


def parse_list_query(
    ep: ListEndpoint,
    params: dict[str, list[str]],
    world: World,
    catalog: dict[str, list[Processor]],
    parse_order: str,
    shared_names: float = 0.0,
) -> ListQuery:
    size_raw = _one(params, "maxPageSize")
    page_size = 10
    if size_raw is not None:
        if not _INT_RE.match(size_raw) or not 1 <= int(size_raw) <= 1000:
            raise BadRequest("'maxPageSize' must be an integer between 1 and 1000.")
        page_size = int(size_raw)
    status = _enum(params, "status", ep.statuses)
    source = _enum(params, "source", ep.sources) if ep.sources is not None else None
    group = ep.group
    preds: list[Callable[[Run], bool]] = []
    if ep.type_param:
        ptype = _enum(params, "processorType", TYPE_TO_FAMILY)
        if ptype is not None:
            group = TYPE_TO_FAMILY[ptype]
    if ep.sortable:
        sort_by = _enum(params, "sortBy", ("updatedAt", "createdAt")) or "updatedAt"
        desc = (_enum(params, "sortDir", ("asc", "desc")) or "desc") == "desc"
    else:  # /parse_runs: no sort parameters (sortBy/sortDir are ignored, like any unknown parameter)
        # The reference does not say which order it is; created_asc stands for "neither of the two
        # descending orders an exporter can exploit".
        sort_by = "updatedAt" if parse_order == "updated_desc" else "createdAt"
        desc = parse_order != "created_asc"
    seed = world.seed
    if ep.id_param is not None:
        wanted = _one(params, ep.id_param)
        if wanted:
            fams = ("extract", "classify", "split") if ep.group == "processor" else (ep.group,)
            matches = {(p.family, p.index) for f in fams for p in catalog[f] if p.id == wanted}
            preds.append(lambda r, m=matches: (r.fam, r.proc) in m)  # type: ignore[misc]
    if ep.batch_param:
        bid = _one(params, "batchId")
        if bid:
            batch = world.find_batch(bid)
            target = batch.index if batch is not None and batch.fam == ep.group else -2
            preds.append(lambda r, t=target: r.batch == t)  # type: ignore[misc]
            if ep.group == "parse":
                source = None  # documented: source is ignored when batchId is given
    if ep.source_id_param:
        sid = _one(params, "sourceId")
        if sid:
            preds.append(lambda r, s=sid: derive.source_id(seed, r) == s)  # type: ignore[misc]
    if ep.risk_param:
        risk = _enum(params, "riskLevel", dict.fromkeys(RISK_LEVELS))
        if risk is not None:
            preds.append(
                lambda r, v=risk: r.status == PROCESSED and derive.risk_level(seed, r) == v  # type: ignore[misc]
            )
    name_sub = _one(params, "fileNameContains")
    if name_sub:
        needle = name_sub.lower()
        preds.append(lambda r: needle in derive.file_name(seed, r, shared_names).lower())
    predicate: Callable[[Run], bool] | None = None
    if len(preds) == 1:
        predicate = preds[0]
    elif preds:
        predicate = lambda r: all(p(r) for p in preds)  # noqa: E731
    return ListQuery(
        group, status, source, sort_by, desc, page_size, _one(params, "nextPageToken"), predicate
    )


# -- tokens --------------------------------------------------------------------------------------
class TokenCodec:
    def __init__(self, seed: int) -> None:
        self._secret = hashlib.sha256(f"extend-sim-token-{seed}".encode()).digest()

    def _stream(self, n: int) -> bytes:
        out = b""
        block = 0
        while len(out) < n:
            out += hashlib.sha256(self._secret + block.to_bytes(4, "big")).digest()
            block += 1
        return out[:n]

    def encode(self, body: str) -> str:
        for counter in range(10_000):
            payload = f"{body}|{counter}".encode()
            while len(payload) % 3 != 1:  # -> "==" padding
                payload += b"|"
            mac = hmac.new(self._secret, payload, hashlib.sha256).digest()[:30]
            tail = base64.b64encode(mac).decode()
            if "+" in tail and "/" in tail:
                masked = bytes(a ^ b for a, b in zip(payload, self._stream(len(payload)), strict=True))
                return base64.b64encode(masked).decode() + ":" + tail
        raise RuntimeError("unreachable")

    def decode(self, token: str) -> str:
        try:
            head, tail = token.split(":", 1)
            masked = base64.b64decode(head, validate=True)
            mac = base64.b64decode(tail, validate=True)
        except ValueError as exc:
            raise BadRequest("Invalid nextPageToken.") from exc
        payload = bytes(a ^ b for a, b in zip(masked, self._stream(len(masked)), strict=True))
        good = hmac.new(self._secret, payload, hashlib.sha256).digest()[:30]
        if not hmac.compare_digest(good, mac):
            raise BadRequest("Invalid nextPageToken.")
        text = payload.decode(errors="replace").rstrip("|")
        return text.rsplit("|", 1)[0]


# -- paging --------------------------------------------------------------------------------------
@dataclass
class Page:
    runs: list[Run]
    next_cursor: str | None


def _runs_of(world: World, keys: Iterable[int]) -> Iterator[Run]:
    runs = world.runs
    for k in keys:
        r = runs[key_seq(k)]
        if r is not None:
            yield r


def _take(it: Iterator[Run], pred: Callable[[Run], bool] | None, limit: int) -> tuple[list[Run], bool]:
    """Take up to ``limit`` matching runs and report whether another match exists."""
    out: list[Run] = []
    for r in it:
        if pred is not None and not pred(r):
            continue
        if len(out) == limit:
            return out, True
        out.append(r)
    return out, False


def page_offset(world: World, sl: SortedList, q: ListQuery, offset: int) -> Page:
    n = len(sl)
    limit = q.page_size
    if q.predicate is None:
        if q.desc:
            hi = n - offset
            lo = max(0, hi - limit)
            keys = list(sl.islice(lo, hi, reverse=True)) if hi > 0 else []
            more = lo > 0
        else:
            keys = list(sl.islice(offset, offset + limit)) if offset < n else []
            more = offset + limit < n
        runs = list(_runs_of(world, keys))
        return Page(runs, f"o:{offset + len(keys)}" if more else None)
    it = _runs_of(world, reversed(sl) if q.desc else iter(sl))
    skipped = 0
    pred = q.predicate
    for r in it:
        if skipped >= offset:
            # put r back in front
            runs, more = _take(_chain_one(r, it), pred, limit)
            return Page(runs, f"o:{offset + len(runs)}" if more else None)
        if pred(r):
            skipped += 1
    return Page([], None)


def _chain_one(first: Run, rest: Iterator[Run]) -> Iterator[Run]:
    yield first
    yield from rest


def page_keyset(world: World, sl: SortedList, q: ListQuery, after: int | None) -> Page:
    if after is None:
        keys: Iterable[int] = reversed(sl) if q.desc else iter(sl)
    elif q.desc:
        keys = sl.islice(0, sl.bisect_left(after), reverse=True)
    else:
        keys = sl.islice(sl.bisect_right(after), None)
    runs, more = _take(_runs_of(world, iter(keys)), q.predicate, q.page_size)
    if more and runs:
        last = runs[-1]
        key = last.ukey() if q.sort_by == "updatedAt" else last.ckey()
        return Page(runs, f"k:{key}")
    return Page(runs, None)


def materialize(world: World, sl: SortedList, q: ListQuery) -> list[Run]:
    keys = reversed(sl) if q.desc else iter(sl)
    if q.predicate is None:
        return list(_runs_of(world, keys))
    pred = q.predicate
    return [r for r in _runs_of(world, keys) if pred(r)]


def page_snapshot(world: World, frozen: list[Run], snap_id: int, offset: int, limit: int) -> Page:
    chunk = frozen[offset : offset + limit]
    runs = world.runs
    live = [r for r in chunk if runs[r.seq] is not None]
    end = offset + len(chunk)
    return Page(live, f"s:{snap_id}:{end}" if end < len(frozen) else None)
