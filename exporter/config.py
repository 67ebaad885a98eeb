"""Settings: the only place that reads the environment. Every setting is also a CLI flag."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .kinds import API_2026, API_VERSIONS, DEFAULT_KINDS, KINDS, KINDS_BY_VERSION

DEFAULT_PORT = 9864
# Longest duration accepted: beyond it the scheduler and socket timeouts overflow.
MAX_SECONDS = 1e9


class ConfigError(Exception):
    """A bad setting; the message is one line naming the setting."""


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


def parse_listen_address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must be host:port with a port from 1 to 65535, e.g. 0.0.0.0:9864")
    return host.strip("[]") or "0.0.0.0", int(port)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    api_key: SecretStr | None = Field(
        None, validation_alias="EXTEND_API_KEY", description="API key (sent as a Bearer token)."
    )
    api_key_file: Path | None = Field(
        None,
        validation_alias="EXTEND_API_KEY_FILE",
        description="File holding the API key (e.g. a Kubernetes secret mount); re-read when it changes.",
    )
    api_base_url: str = Field(
        "https://api.extend.ai", validation_alias="EXTEND_API_BASE_URL", description="API base URL."
    )
    api_version: Literal["2026-02-09", "2025-04-21"] = Field(
        "2026-02-09", validation_alias="EXTEND_API_VERSION", description="Extend API version to speak."
    )
    workspace_id: str | None = Field(
        None,
        validation_alias="EXTEND_WORKSPACE_ID",
        description="Sent as x-extend-workspace-id (needed with organisation-scoped keys).",
    )
    listen_address: str = Field(
        f"0.0.0.0:{DEFAULT_PORT}",
        validation_alias="EXTEND_EXPORTER_LISTEN_ADDRESS",
        description="host:port of the HTTP server (/metrics, /healthz, /readyz).",
    )
    poll_interval_seconds: float = Field(
        60.0,
        gt=0,
        validation_alias="EXTEND_EXPORTER_POLL_INTERVAL_SECONDS",
        description="How often each run kind is synced.",
    )
    kinds: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias="EXTEND_EXPORTER_KINDS",
        description="Comma list of run kinds to watch (default depends on the API version).",
    )
    max_requests_per_second: float = Field(
        2.0,
        gt=0,
        le=100,
        validation_alias="EXTEND_EXPORTER_MAX_REQUESTS_PER_SECOND",
        description="Cap on API requests per second, shared by all kinds (PAYG quota is 10).",
    )
    state_file: Path | None = Field(
        None,
        validation_alias="EXTEND_EXPORTER_STATE_FILE",
        description="Where counters and sync positions persist across restarts (default: memory only).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", validation_alias="EXTEND_EXPORTER_LOG_LEVEL", description="Log level."
    )
    log_format: Literal["text", "json"] = Field(
        "text", validation_alias="EXTEND_EXPORTER_LOG_FORMAT", description="Log format."
    )
    page_size: int = Field(
        1000,
        ge=1,
        le=1000,
        validation_alias="EXTEND_EXPORTER_PAGE_SIZE",
        description="maxPageSize of list requests.",
    )
    sync_overlap_seconds: float = Field(
        120.0,
        ge=0,
        validation_alias="EXTEND_EXPORTER_SYNC_OVERLAP_SECONDS",
        description="How far behind the last sync position each sync re-reads (clock skew, lag).",
    )
    reconcile_interval_seconds: float = Field(
        900.0,
        gt=0,
        validation_alias="EXTEND_EXPORTER_RECONCILE_INTERVAL_SECONDS",
        description="How often active runs are re-listed by status (drops deleted runs).",
    )
    request_timeout_seconds: float = Field(
        30.0,
        gt=0,
        validation_alias="EXTEND_EXPORTER_REQUEST_TIMEOUT_SECONDS",
        description="Timeout of one API request.",
    )
    max_retries: int = Field(
        4,
        ge=0,
        le=20,
        validation_alias="EXTEND_EXPORTER_MAX_RETRIES",
        description="Retries of a failed request (429, 5xx, transport errors) before a sync fails.",
    )
    per_resource_labels: bool = Field(
        False,
        validation_alias="EXTEND_EXPORTER_PER_RESOURCE_LABELS",
        description="Also count finished runs per processor/workflow ID (opt-in).",
    )
    per_resource_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias="EXTEND_EXPORTER_PER_RESOURCE_ALLOW",
        description="Comma list of processor/workflow IDs to break out (default: any, up to the cap).",
    )
    per_resource_max: int = Field(
        100,
        ge=1,
        le=10000,
        validation_alias="EXTEND_EXPORTER_PER_RESOURCE_MAX",
        description="Cap on distinct processor/workflow IDs per kind; the rest count as 'other'.",
    )
    web_config_file: Path | None = Field(
        None,
        validation_alias="EXTEND_EXPORTER_WEB_CONFIG_FILE",
        description="Prometheus exporter-toolkit web config (TLS, basic auth) for the HTTP server.",
    )
    http_header_timeout_seconds: float = Field(
        5.0,
        gt=0,
        validation_alias="EXTEND_EXPORTER_HTTP_HEADER_TIMEOUT_SECONDS",
        description="Time a client has to send a request's line and headers, as a whole.",
    )
    http_idle_timeout_seconds: float = Field(
        30.0,
        gt=0,
        validation_alias="EXTEND_EXPORTER_HTTP_IDLE_TIMEOUT_SECONDS",
        description="How long a kept-alive connection may wait for its next request.",
    )
    http_tls_handshake_timeout_seconds: float = Field(
        5.0,
        gt=0,
        validation_alias="EXTEND_EXPORTER_HTTP_TLS_HANDSHAKE_TIMEOUT_SECONDS",
        description="Time a client has to complete the TLS handshake (with TLS on).",
    )
    http_max_connections: int = Field(
        256,
        ge=16,
        le=100000,
        validation_alias="EXTEND_EXPORTER_HTTP_MAX_CONNECTIONS",
        description="Open connections kept at most; past it the oldest idle or slow one is closed.",
    )

    _split_kinds = field_validator("kinds", "per_resource_allow", mode="before")(_split_list)

    @field_validator("api_base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL with a host, e.g. https://api.extend.ai")
        return value.rstrip("/")

    @field_validator("listen_address")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        parse_listen_address(value)
        return value

    @field_validator("workspace_id")
    @classmethod
    def _check_workspace(cls, value: str | None) -> str | None:
        # Sent as a header: a newline or non-ASCII character would fail every request as a
        # "transport error" instead of being reported at start-up.
        if value is not None and (not value or not all(0x21 <= ord(c) <= 0x7E for c in value)):
            raise ValueError("must be printable ASCII without spaces")
        return value

    @model_validator(mode="after")
    def _check_durations(self) -> Settings:
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if field.annotation is float and (not math.isfinite(value) or value > MAX_SECONDS):
                raise ValueError(f"{field.validation_alias}: must be a finite number up to {MAX_SECONDS:.0e}")
        return self

    @model_validator(mode="after")
    def _check_kinds_and_key(self) -> Settings:
        allowed = KINDS_BY_VERSION[self.api_version]
        for kind in self.kinds:
            if kind not in KINDS:
                raise ValueError(f"EXTEND_EXPORTER_KINDS: unknown kind {kind!r}; known: {', '.join(KINDS)}")
            if kind not in allowed:
                raise ValueError(f"EXTEND_EXPORTER_KINDS: {kind} needs EXTEND_API_VERSION={API_2026}")
        if self.api_key is None and self.api_key_file is None:
            raise ValueError("EXTEND_API_KEY: set EXTEND_API_KEY or EXTEND_API_KEY_FILE")
        return self

    @property
    def effective_kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.kinds)) or DEFAULT_KINDS[self.api_version]


def env_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    assert isinstance(alias, str)
    return alias


def flag_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Environment, with CLI values (keyed by field name) on top; ConfigError on a bad setting."""
    values = {env_name(k): v for k, v in (overrides or {}).items() if v is not None}
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None


def _one_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = [str(p) for p in err.get("loc", ())]
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    if loc:
        field = loc[0]
        name = field if field.isupper() else (env_name(field) if field in Settings.model_fields else field)
        flag = next((flag_name(f) for f in Settings.model_fields if env_name(f) == name), "")
        where = f"{name} ({flag})" if flag else name
        return f"invalid setting {where}: {msg}"
    name, sep, rest = msg.partition(": ")
    if sep and name.isupper():
        flag = next((flag_name(f) for f in Settings.model_fields if env_name(f) == name), "")
        return f"invalid setting {name} ({flag}): {rest}"
    return f"invalid settings: {msg}"


def api_versions() -> tuple[str, ...]:
    return API_VERSIONS
