"""Which workspace an exporter polls, as a label value that is safe to publish.

Two exporters polling one workspace double its API cost and, summed, double every count; the
`workspace` label on `extend_exporter_build_info` lets dashboards take one value per workspace and an
alert find the duplicates. It is the workspace ID when one is configured; otherwise a short fingerprint
of the API key: the first 12 hex digits of SHA-256 over a domain-separated string, which identifies
"the same key" without revealing it (48 bits: no way back to a key of ~40 random characters, and no
use as a password hash).
"""

from __future__ import annotations

import hashlib

#: Keeps this fingerprint from matching a plain sha256 of the key computed anywhere else.
_DOMAIN = b"extend-exporter/workspace-identity/v1\x00"
FINGERPRINT_PREFIX = "key-"
FINGERPRINT_HEX_DIGITS = 12


def key_fingerprint(api_key: str) -> str:
    digest = hashlib.sha256(_DOMAIN + api_key.encode("utf-8")).hexdigest()
    return FINGERPRINT_PREFIX + digest[:FINGERPRINT_HEX_DIGITS]


def workspace_identity(workspace_id: str | None, api_key: str) -> str:
    """The workspace ID where set, else the key's fingerprint."""
    return workspace_id if workspace_id else key_fingerprint(api_key)
