"""What a request handler answers: status, body, headers and how the socket layer sends it.

A leaf module: ``api`` and ``control`` build responses, ``http`` writes them, none imports another
for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

Action = Literal["send", "reset", "short_read"]


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    action: Action = "send"
    delay: float = 0.0
    content_type: str = "application/json"


def json_response(status: int, obj: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, orjson.dumps(obj), headers or [])
