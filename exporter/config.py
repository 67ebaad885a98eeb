"""Settings: the only place that reads the environment. Every setting is also a CLI flag."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .kinds import API_2026, API_VERSIONS, DEFAULT_KINDS, KINDS, KINDS_BY_VERSION
from .plainwords import one_line

DEFAULT_PORT = 9864
# Longest duration accepted: beyond it the scheduler and socket timeouts overflow.
MAX_SECONDS = 1e9
# Each usage tag is a label value of every kind that carries metadata: a bound on that cardinality.
MAX_USAGE_TAGS = 50
# Each watched evaluation set run is a label value of the evaluation families: a bound on them.
MAX_EVALUATION_RUNS = 20
_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_TAG = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ConfigError(Exception):
    """A bad setting; the message is one line naming the setting."""


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> Any:
    """Seconds from `90`, `1.5`, `90s`, `5m`, `1h30m`, `250ms` (Prometheus style); others pass through.

    A plain number is seconds, as before; anything unparsable is left for the float validator to reject.
    """
    if not isinstance(value, str):
        return value
    text = value.strip().lower()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError("must be a duration such as 90s, 5m, 1h30m or plain seconds")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


Duration = Annotated[float, BeforeValidator(parse_duration)]
DURATION_HINT = " A duration: 90s, 5m, 1h or plain seconds."


def parse_listen_address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must be host:port with a port from 1 to 65535, e.g. 0.0.0.0:9864")
    return host.strip("[]") or "0.0.0.0", int(port)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    api_key: SecretStr | None = Field(
        None,
        validation_alias="EXTEND_API_KEY",
        description="API key (sent as a Bearer token). The --api-key flag shows it to every local "
        "user (ps) and warns: prefer the environment or --api-key-file.",
    )
    api_key_file: Path | None = Field(
        None,
        validation_alias="EXTEND_API_KEY_FILE",
        description="File holding the API key (e.g. a Kubernetes secret mount); re-read when it changes.",
    )
    api_base_url: str = Field(
        "https://api.extend.ai",
        validation_alias="EXTEND_API_BASE_URL",
        description="API base URL (credentials in it are refused).",
    )
    api_version: Literal["2026-02-09", "2025-04-21"] = Field(
        "2026-02-09", validation_alias="EXTEND_API_VERSION", description="Extend API version to speak."
    )
    workspace_id: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias="EXTEND_WORKSPACE_ID",
        description="Comma list of workspace IDs, each sent as x-extend-workspace-id (an organisation "
        "key needs at least one); several share one request budget (docs/workspaces.md).",
    )
    listen_address: str = Field(
        f"0.0.0.0:{DEFAULT_PORT}",
        validation_alias="EXTEND_EXPORTER_LISTEN_ADDRESS",
        description="host:port of the HTTP server (/metrics, /healthz, /readyz).",
    )
    poll_interval_seconds: Duration = Field(
        60.0,
        gt=0,
        validation_alias="EXTEND_EXPORTER_POLL_INTERVAL_SECONDS",
        description="How often each run kind is synced." + DURATION_HINT,
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
    log_level: Annotated[Literal["debug", "info", "warning", "error"], BeforeValidator(_lower)] = Field(
        "info",
        validation_alias="EXTEND_EXPORTER_LOG_LEVEL",
        description="Log level: debug, info, warning or error (any case).",
    )
    log_format: Annotated[Literal["text", "json"], BeforeValidator(_lower)] = Field(
        "text", validation_alias="EXTEND_EXPORTER_LOG_FORMAT", description="Log format: text or json."
    )
    page_size: int = Field(
        1000,
        ge=1,
        le=1000,
        validation_alias="EXTEND_EXPORTER_PAGE_SIZE",
        description="maxPageSize of list requests.",
    )
    sync_overlap_seconds: Duration = Field(
        120.0,
        ge=0,
        validation_alias="EXTEND_EXPORTER_SYNC_OVERLAP_SECONDS",
        description="How far behind the last sync position each sync re-reads (clock skew, lag)."
        + DURATION_HINT,
    )
    reconcile_interval_seconds: Duration = Field(
        900.0,
        gt=0,
        validation_alias="EXTEND_EXPORTER_RECONCILE_INTERVAL_SECONDS",
        description="How often active runs are re-listed by status (drops deleted runs)." + DURATION_HINT,
    )
    request_timeout_seconds: Duration = Field(
        30.0,
        gt=0,
        validation_alias="EXTEND_EXPORTER_REQUEST_TIMEOUT_SECONDS",
        description="Deadline of one API request as a whole (connect, headers and body); a body "
        "still arriving then is abandoned within about twice this." + DURATION_HINT,
    )
    max_response_bytes_per_run: int = Field(
        8192,
        ge=256,
        le=1_048_576,
        validation_alias="EXTEND_EXPORTER_MAX_RESPONSE_BYTES_PER_RUN",
        description="Cap on an API response: 64 KiB plus this many bytes per run of the page size asked "
        "for, raw and decompressed (8 MiB at 1000); a larger page fails the sync (bad_response).",
    )
    max_runs_per_listing: int = Field(
        1_000_000,
        ge=1000,
        validation_alias="EXTEND_EXPORTER_MAX_RUNS_PER_LISTING",
        description="Most runs one listing is paged through (pages x page size); beyond it, or on a "
        "repeated nextPageToken, the sync fails (bad_response).",
    )
    max_retry_after_seconds: Duration = Field(
        300.0,
        gt=0,
        validation_alias="EXTEND_EXPORTER_MAX_RETRY_AFTER_SECONDS",
        description="Longest Retry-After honoured (longer ones are cut to it). A hold longer than two "
        "poll intervals fails the sync at once (rate_limited, extend_up 0) instead of being waited out."
        + DURATION_HINT,
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
        description="Cap on distinct processor/workflow IDs per kind; the rest count as resource_id OTHER.",
    )
    usage_tags: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias="EXTEND_EXPORTER_USAGE_TAGS",
        description="Comma list of usage tags (metadata extend:usage_tags) to count credits by "
        f"(opt-in; at most {MAX_USAGE_TAGS}).",
    )
    batch_ids: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias="EXTEND_EXPORTER_BATCH_IDS",
        description="Comma list of batch IDs to watch besides those found on run summaries: any kind "
        "(`bpar_…`, `bpr_…` batch runs, legacy `bpr_…` batch processor runs, `batch_…` workflow batches).",
    )
    max_batches: int = Field(
        100,
        ge=1,
        le=10000,
        validation_alias="EXTEND_EXPORTER_MAX_BATCHES",
        description="Most batches tracked at once per workspace; the oldest finished go first, the ones "
        "left out are counted (extend_batches_left_out_total).",
    )
    batch_retention_seconds: Duration = Field(
        3600.0,
        ge=0,
        validation_alias="EXTEND_EXPORTER_BATCH_RETENTION_SECONDS",
        description="How long a finished batch's series stay after it ended." + DURATION_HINT,
    )
    evaluation_run_ids: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias="EXTEND_EXPORTER_EVALUATION_RUN_IDS",
        description=f"Comma list of evaluation set run IDs to watch (at most {MAX_EVALUATION_RUNS}).",
    )
    evaluation_max_fields: int = Field(
        25,
        ge=0,
        le=1000,
        validation_alias="EXTEND_EXPORTER_EVALUATION_MAX_FIELDS",
        description="Fields (or classes) per evaluation set run with a score series of their own; the "
        "rest are pooled under field OTHER.",
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

    webhook_listen_address: str | None = Field(
        None,
        validation_alias="EXTEND_EXPORTER_WEBHOOK_LISTEN_ADDRESS",
        description="host:port of a separate listener for Extend's webhooks (POST /webhooks/extend), "
        "which make a kind sync at once; off when unset (docs/webhooks.md).",
    )
    webhook_secret: SecretStr | None = Field(
        None,
        validation_alias="EXTEND_EXPORTER_WEBHOOK_SECRET",
        description="The webhook endpoint's signing secret (wss_...); a comma list accepts any of them "
        "(rotation). The flag shows it to every local user (ps): prefer the environment or the file.",
    )
    webhook_secret_file: Path | None = Field(
        None,
        validation_alias="EXTEND_EXPORTER_WEBHOOK_SECRET_FILE",
        description="File holding the webhook signing secret (or a comma list); re-read when it changes.",
    )
    webhook_web_config_file: Path | None = Field(
        None,
        validation_alias="EXTEND_EXPORTER_WEBHOOK_WEB_CONFIG_FILE",
        description="Web config (tls_server_config) for the webhook listener, in the format of "
        "EXTEND_EXPORTER_WEB_CONFIG_FILE.",
    )
    webhook_min_sync_interval_seconds: Duration = Field(
        1.0,
        gt=0,
        validation_alias="EXTEND_EXPORTER_WEBHOOK_MIN_SYNC_INTERVAL_SECONDS",
        description="Least time between two syncs of one kind that webhooks start; deliveries in between "
        "share the next one. Raise it to spend fewer requests on a busy workspace (latency grows to "
        "about this)." + DURATION_HINT,
    )
    webhook_body_timeout_seconds: Duration = Field(
        10.0,
        gt=0,
        validation_alias="EXTEND_EXPORTER_WEBHOOK_BODY_TIMEOUT_SECONDS",
        description="Time a webhook delivery has to send its body (at most 1 MiB) after its headers."
        + DURATION_HINT,
    )

    _split_kinds = field_validator(
        "kinds",
        "per_resource_allow",
        "usage_tags",
        "workspace_id",
        "batch_ids",
        "evaluation_run_ids",
        mode="before",
    )(_split_list)

    @field_validator("batch_ids", "evaluation_run_ids")
    @classmethod
    def _check_ids(cls, value: list[str]) -> list[str]:
        ids = list(dict.fromkeys(value))
        for one in ids:
            if not _ID.match(one):
                raise ValueError(f"{one[:64]!r} is not an ID (letters, digits, - and _)")
        return ids

    @field_validator("evaluation_run_ids")
    @classmethod
    def _check_evaluation_count(cls, value: list[str]) -> list[str]:
        if len(value) > MAX_EVALUATION_RUNS:
            raise ValueError(f"at most {MAX_EVALUATION_RUNS} IDs, got {len(value)}")
        return value

    @field_validator("usage_tags")
    @classmethod
    def _check_tags(cls, value: list[str]) -> list[str]:
        tags = list(dict.fromkeys(value))
        for tag in tags:
            if not _TAG.match(tag):
                raise ValueError(f"{tag[:64]!r} is not a usage tag (letters, digits, - and _)")
        if len(tags) > MAX_USAGE_TAGS:
            raise ValueError(f"at most {MAX_USAGE_TAGS} tags, got {len(tags)}")
        return tags

    @field_validator("api_base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL with a host, e.g. https://api.extend.ai")
        if parts.username is not None or parts.password is not None:
            # Never echoed: the part before '@' may be a password. It would reach logs and the state file.
            raise ValueError(
                "must not hold credentials (user:password@); the key goes in EXTEND_API_KEY(_FILE)"
            )
        return value.rstrip("/")

    @field_validator("listen_address")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        parse_listen_address(value)
        return value

    @field_validator("webhook_listen_address")
    @classmethod
    def _check_webhook_listen(cls, value: str | None) -> str | None:
        if value is not None:
            parse_listen_address(value)
        return value

    @field_validator("workspace_id")
    @classmethod
    def _check_workspaces(cls, value: list[str]) -> list[str]:
        for workspace in value:
            # Sent as a header: a newline or non-ASCII character would fail every request as a
            # "transport error" instead of being reported at start-up.
            if not all(0x21 <= ord(c) <= 0x7E for c in workspace):
                raise ValueError(f"{workspace[:64]!r}: an ID must be printable ASCII without spaces")
            if value.count(workspace) > 1:
                raise ValueError(f"{workspace[:64]!r} is listed twice")
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

    @model_validator(mode="after")
    def _check_webhooks(self) -> Settings:
        secret = self.webhook_secret is not None or self.webhook_secret_file is not None
        if self.webhook_listen_address is None:
            if secret or self.webhook_web_config_file is not None:
                raise ValueError(
                    "EXTEND_EXPORTER_WEBHOOK_LISTEN_ADDRESS: set it to receive webhooks, or unset the other "
                    "EXTEND_EXPORTER_WEBHOOK_* settings"
                )
            return self
        if not secret:
            raise ValueError(
                "EXTEND_EXPORTER_WEBHOOK_SECRET: webhooks need the endpoint's signing secret "
                "(EXTEND_EXPORTER_WEBHOOK_SECRET or EXTEND_EXPORTER_WEBHOOK_SECRET_FILE)"
            )
        if (
            parse_listen_address(self.webhook_listen_address)[1]
            == parse_listen_address(self.listen_address)[1]
        ):
            raise ValueError(
                "EXTEND_EXPORTER_WEBHOOK_LISTEN_ADDRESS: must use another port than "
                "EXTEND_EXPORTER_LISTEN_ADDRESS (deliveries from the internet, /metrics inside)"
            )
        return self

    @property
    def effective_kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.kinds)) or DEFAULT_KINDS[self.api_version]

    @property
    def workspaces(self) -> tuple[str | None, ...]:
        """The workspaces polled: each ID, or None alone (the workspace key's own, no header sent)."""
        return tuple(self.workspace_id) or (None,)


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
        names = {f: (env_name(f), flag_name(f)) for f in Settings.model_fields}
        raise ConfigError(one_line(exc, names)) from None


def api_versions() -> tuple[str, ...]:
    return API_VERSIONS
