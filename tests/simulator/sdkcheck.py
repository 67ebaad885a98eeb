"""Strict structural checks of raw JSON against the official SDK's (extend-ai 1.20.0) pydantic models.

pydantic's lax mode would coerce ``"true"`` into ``True`` and ignore unknown fields (the SDK models allow
extras), and strict mode rejects RFC 3339 strings for the SDK's datetimes, so this walks the SDK model
annotations and checks the raw JSON types itself: required fields present, no unknown fields, JSON types
exact, enums known (no ``_UNKNOWN``), literals equal, datetimes RFC 3339 UTC.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import types
import typing
from typing import Any

import pydantic

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")


class Mismatch(AssertionError):
    pass


def _fail(path: str, msg: str) -> typing.NoReturn:
    raise Mismatch(f"{path}: {msg}")


def check_model(raw: Any, model: type[pydantic.BaseModel], path: str = "$") -> None:
    """Raise ``Mismatch`` unless ``raw`` is an exact instance of ``model`` (and pydantic accepts it)."""
    _check(raw, model, path)
    model.model_validate(raw)


def _check(value: Any, ann: Any, path: str) -> None:
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        _check(value, typing.get_args(ann)[0], path)
        return
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(ann)
        if value is None and type(None) in args:
            return
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                _check(value, arg, path)
                return
            except Mismatch as exc:
                errors.append(str(exc))
        _fail(path, f"no union member matched: {errors}")
    if origin is typing.Literal:
        if value not in typing.get_args(ann):
            _fail(path, f"{value!r} not in {typing.get_args(ann)}")
        return
    if origin in (list, typing.List):  # noqa: UP006
        if not isinstance(value, list):
            _fail(path, f"expected list, got {type(value).__name__}")
        (item_ann,) = typing.get_args(ann) or (Any,)
        for i, item in enumerate(value):
            _check(item, item_ann, f"{path}[{i}]")
        return
    if origin in (dict, typing.Dict):  # noqa: UP006
        if not isinstance(value, dict):
            _fail(path, f"expected object, got {type(value).__name__}")
        return
    if ann is Any or ann is typing.Any:
        return
    if value is None:
        _fail(path, "null where a value is required")
    if isinstance(ann, type):
        if issubclass(ann, pydantic.BaseModel):
            _check_object(value, ann, path)
        elif issubclass(ann, enum.Enum):
            known = {m.value for m in ann if m.name != "_UNKNOWN"}
            if not isinstance(value, str) or value not in known:
                _fail(path, f"{value!r} is not a known {ann.__name__}")
        elif ann is bool:
            if not isinstance(value, bool):
                _fail(path, f"expected boolean, got {value!r}")
        elif ann is str:
            if not isinstance(value, str):
                _fail(path, f"expected string, got {value!r}")
        elif ann is int:
            if not isinstance(value, int) or isinstance(value, bool):
                _fail(path, f"expected integer, got {value!r}")
        elif ann is float:
            if not isinstance(value, int | float) or isinstance(value, bool):
                _fail(path, f"expected number, got {value!r}")
        elif ann is dt.datetime:
            if not isinstance(value, str) or not RFC3339_UTC.match(value):
                _fail(path, f"expected RFC 3339 UTC datetime, got {value!r}")
        else:
            _fail(path, f"unsupported annotation {ann!r}")
        return
    _fail(path, f"unsupported annotation {ann!r}")


def _check_object(value: Any, model: type[pydantic.BaseModel], path: str) -> None:
    if not isinstance(value, dict):
        _fail(path, f"expected object for {model.__name__}, got {type(value).__name__}")
    known: set[str] = set()
    for name, field in model.model_fields.items():
        key = field.alias or name
        known.add(key)
        if key not in value:
            if field.is_required():
                _fail(path, f"missing required field {key!r} of {model.__name__}")
            continue
        _check(value[key], field.annotation, f"{path}.{key}")
    extra = set(value) - known
    if extra:
        _fail(path, f"unknown fields {sorted(extra)} for {model.__name__}")


def field_keys(model: type[pydantic.BaseModel]) -> set[str]:
    return {f.alias or n for n, f in model.model_fields.items()}
