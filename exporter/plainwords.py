"""A bad setting said in one line of plain words, naming the setting and its flag (config.py's
load_settings): pydantic's wording ("Input should be greater than 0") becomes "must be more than 0"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

# pydantic's wording in plain words, by error type.
_PLAIN = {
    "greater_than": "must be more than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_type": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "literal_error": "must be {expected}",
}


def _plain(err: Any) -> str:
    """One error's message in plain words, with the value given (never for the API key)."""
    template = _PLAIN.get(err["type"])
    if template is None:
        return str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    ctx = {k: _shown(v).replace("'", "") for k, v in err.get("ctx", {}).items()}
    text = template.format(**ctx)
    field = str(err["loc"][0]) if err.get("loc") else ""
    if field.endswith("_SECONDS") and "{" in template and err["type"] != "literal_error":
        text += " seconds"
    if field not in ("EXTEND_API_KEY", "api_key") and isinstance(err.get("input"), str | int | float):
        text += f", got {_shown(err['input'])[:64]!r}"
    return text


def _shown(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def one_line(exc: ValidationError, names: Mapping[str, tuple[str, str]]) -> str:
    """The first error of `exc`; `names`: each settings field -> (its environment variable, its flag)."""
    err = exc.errors()[0]
    flags = dict(names.values())
    loc = [str(p) for p in err.get("loc", ())]
    msg = _plain(err)
    if loc:
        field = loc[0]
        name = field if field.isupper() else (names[field][0] if field in names else field)
        flag = flags.get(name, "")
        where = f"{name} ({flag})" if flag else name
        return f"invalid setting {where}: {msg}"
    name, sep, rest = msg.partition(": ")
    if sep and name.isupper():
        return f"invalid setting {name} ({flags.get(name, '')}): {rest}"
    return f"invalid settings: {msg}"
