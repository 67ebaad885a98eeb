"""Protecting /metrics: the Prometheus exporter-toolkit web configuration file (--web.config.file).

Supported keys: `tls_server_config` (`cert_file`, `key_file`, `client_ca_file`, `client_auth_type`,
`min_version`, `max_version`), `http_server_config` (`http2`, which changes nothing: the server speaks
HTTP/1.1) and `basic_auth_users` (user: bcrypt hash), as Go exporters read them. Parsed strictly, as
exporter-toolkit does: an unknown key or value is an error (exit 2), never a silent fallback; a key
exporter-toolkit knows that this exporter does not implement is refused by name. The webhook listener
reads the same format from a file of its own (EXTEND_EXPORTER_WEBHOOK_WEB_CONFIG_FILE; TLS only).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from ..config import ConfigError

_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_TOP_KEYS = {"tls_server_config", "basic_auth_users", "http_server_config"}
_TLS_KEYS = {"cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version", "max_version"}
_HTTP_KEYS = {"http2"}
# exporter-toolkit keys this exporter does not implement: refused by name rather than ignored.
_UNSUPPORTED = {
    "rate_limit",
    "tls_server_config.cert",
    "tls_server_config.key",
    "tls_server_config.client_ca",
    "tls_server_config.cipher_suites",
    "tls_server_config.curve_preferences",
    "tls_server_config.prefer_server_cipher_suites",
    "tls_server_config.client_allowed_sans",
    "http_server_config.headers",
}
_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}


def _cost(hashed: bytes) -> int:
    """The work factor of a bcrypt hash ($2b$12$... -> 12)."""
    try:
        return int(hashed.split(b"$")[2])
    except (IndexError, ValueError):
        return 10


# bcrypt is slow on purpose (~250 ms at cost 12) and holds a core: at most this many checks run at
# once, and a check that finds no free slot fails at once instead of queueing. So failed logins
# cannot take the HTTP workers or the CPU from authorised scrapes, whose credentials are cached after
# their first success; the price is that a correct, not yet cached password may get a 401 while
# someone is guessing, and Prometheus succeeds at a later scrape.
BCRYPT_CONCURRENCY = 1


@dataclass
class WebConfig:
    users: dict[str, bytes]
    tls: ssl.SSLContext | None
    _verified: set[bytes] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _bcrypt_slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(BCRYPT_CONCURRENCY)
    )
    # Checked when the user is unknown, so a wrong user costs the same time as a wrong password: same
    # work factor as the costliest configured hash (a fixed cheaper one would tell valid user names apart).
    _dummy: bytes = b""
    # How long one check at that work factor takes here: every uncached check lasts at least this long,
    # so users whose hashes have different costs are not told apart (nor from unknown users) by timing.
    _check_seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.users and not self._dummy:
            rounds = min(max(_cost(h) for h in self.users.values()), 31)
            self._dummy = bcrypt.hashpw(b"extend-exporter", bcrypt.gensalt(rounds=max(rounds, 4)))
            started = time.perf_counter()
            bcrypt.checkpw(b"", self._dummy)
            self._check_seconds = time.perf_counter() - started

    def authorize(self, header: str | None) -> bool:
        if not self.users:
            return True
        scheme, _, credentials = (header or "").partition(" ")
        if scheme.lower() != "basic":  # auth schemes are case-insensitive (RFC 9110)
            return False
        try:
            user, _, password = (
                base64.b64decode(credentials.strip(), validate=True).decode("utf-8").partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            return False
        hashed = self.users.get(user)
        # Remember credentials that passed (keyed by a digest, not the text).
        digest = hashlib.sha256(f"{user}\0{password}".encode()).digest()
        with self._lock:
            if hashed is not None and any(hmac.compare_digest(digest, d) for d in self._verified):
                return True
        if not self._bcrypt_slots.acquire(blocking=False):
            return False
        started = time.perf_counter()
        try:
            ok = bcrypt.checkpw(password.encode(), hashed if hashed is not None else self._dummy)
        except ValueError:  # a hash bcrypt cannot read (caught at load; belt and braces)
            ok = False
        finally:
            self._bcrypt_slots.release()
        # Outside the slot: waiting costs no CPU.
        time.sleep(max(0.0, self._check_seconds - (time.perf_counter() - started)))
        if ok and hashed is not None:
            with self._lock:
                self._verified.add(digest)
            return True
        return False

    def wrap_server(self, httpd: ThreadingHTTPServer) -> None:
        if self.tls is not None:
            # Handshake in the request thread, not in the accept loop.
            httpd.socket = self.tls.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)


WEB_CONFIG_SETTING = "EXTEND_EXPORTER_WEB_CONFIG_FILE (--web-config-file)"


class _Invalid(Exception):
    """A problem with the file; load_web_config names the setting it came from."""


def _fail(path: Path, message: str) -> _Invalid:
    return _Invalid(f"{path}: {message}")


def _check_keys(path: Path, section: str, cfg: dict[Any, Any], known: set[str]) -> None:
    for key in cfg:
        name = f"{section}.{key}" if section else str(key)
        if name in _UNSUPPORTED:
            raise _fail(path, f"{name} is not supported by this exporter")
        if key not in known:
            raise _fail(path, f"unknown key {name!r}")


def _section(path: Path, data: dict[Any, Any], name: str) -> dict[Any, Any]:
    value = data.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(path, f"{name} must be a mapping")
    return value


def load_web_config(path: Path, setting: str = WEB_CONFIG_SETTING) -> WebConfig:
    """The web config in `path`; ConfigError naming `setting` when it is not a valid one."""
    try:
        return _load(path)
    except _Invalid as exc:
        raise ConfigError(f"invalid setting {setting}: {exc}") from None


def _load(path: Path) -> WebConfig:
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise _fail(path, exc.strerror or "unreadable") from None
    except (yaml.YAMLError, UnicodeDecodeError):
        raise _fail(path, "not valid YAML") from None
    if not isinstance(data, dict):
        raise _fail(path, "must be a YAML mapping")
    _check_keys(path, "", data, _TOP_KEYS)
    http_cfg = _section(path, data, "http_server_config")
    _check_keys(path, "http_server_config", http_cfg, _HTTP_KEYS)
    if "http2" in http_cfg and not isinstance(http_cfg["http2"], bool):
        raise _fail(path, "http_server_config.http2 must be true or false")
    users: dict[str, bytes] = {}
    raw_users = data.get("basic_auth_users") or {}
    if not isinstance(raw_users, dict):
        raise _fail(path, "basic_auth_users must be a mapping of user name to bcrypt hash")
    for user, hashed in raw_users.items():
        if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            raise _fail(path, f"basic_auth_users.{user}: not a bcrypt hash")
        try:
            bcrypt.checkpw(b"", hashed.encode())  # a malformed hash must fail here, not per request
        except ValueError:
            raise _fail(path, f"basic_auth_users.{user}: not a bcrypt hash") from None
        users[str(user)] = hashed.encode()
    tls_cfg = _section(path, data, "tls_server_config")
    _check_keys(path, "tls_server_config", tls_cfg, _TLS_KEYS)
    return WebConfig(users, _tls_context(path, tls_cfg) if tls_cfg else None)


def _tls_version(path: Path, cfg: dict[Any, Any], key: str, default: str) -> ssl.TLSVersion:
    value = cfg.get(key, default)
    if value not in _TLS_VERSIONS:
        raise _fail(
            path, f"tls_server_config.{key}: {str(value)[:20]!r} is not one of {', '.join(_TLS_VERSIONS)}"
        )
    return _TLS_VERSIONS[value]


def _tls_context(path: Path, cfg: Any) -> ssl.SSLContext:
    if not isinstance(cfg, dict) or not cfg.get("cert_file") or not cfg.get("key_file"):
        raise _fail(path, "tls_server_config needs cert_file and key_file")
    for key in ("cert_file", "key_file", "client_ca_file", "client_auth_type"):
        if key in cfg and not isinstance(cfg[key], str):
            raise _fail(path, f"tls_server_config.{key} must be a string")
    base = path.parent
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _tls_version(path, cfg, "min_version", "TLS12")
    if "max_version" in cfg:
        ctx.maximum_version = _tls_version(path, cfg, "max_version", "TLS13")
        if ctx.maximum_version < ctx.minimum_version:
            raise _fail(path, "tls_server_config.max_version is below min_version")
    try:
        ctx.load_cert_chain(base / cfg["cert_file"], base / cfg["key_file"])
    except (OSError, ssl.SSLError) as exc:
        raise _fail(path, f"cannot load cert_file/key_file ({type(exc).__name__})") from None
    auth = str(cfg.get("client_auth_type", "NoClientCert"))
    if auth not in _CLIENT_AUTH:
        raise _fail(path, f"unknown client_auth_type {auth!r}")
    ctx.verify_mode = _CLIENT_AUTH[auth]
    if cfg.get("client_ca_file"):
        try:
            ctx.load_verify_locations(base / cfg["client_ca_file"])
        except (OSError, ssl.SSLError) as exc:
            raise _fail(path, f"cannot load client_ca_file ({type(exc).__name__})") from None
    elif auth in ("RequireAndVerifyClientCert", "VerifyClientCertIfGiven"):
        raise _fail(path, f"client_auth_type {auth} needs client_ca_file")
    return ctx
