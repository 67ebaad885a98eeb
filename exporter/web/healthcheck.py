"""`extend-exporter healthcheck`: GET /healthz and exit 0 on 200, 1 otherwise.

Standard library only, so a container HEALTHCHECK (which may run under a tight timeout, on a
read-only filesystem where nothing is byte-compiled on the fly) starts in a few milliseconds.
"""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import NoReturn

DEFAULT_PORT = 9864


def _serves_tls() -> bool:
    """Whether the web config (EXTEND_EXPORTER_WEB_CONFIG_FILE) turns on TLS.

    A text search rather than a YAML parse keeps this command free of third-party imports; a key
    that is merely commented out is ignored.
    """
    path = os.environ.get("EXTEND_EXPORTER_WEB_CONFIG_FILE")
    if not path:
        return False
    try:
        with open(path, encoding="utf-8") as fh:
            return any(line.lstrip().startswith("tls_server_config:") for line in fh)
    except (OSError, UnicodeDecodeError):
        return False


def default_url() -> str | None:
    """/healthz at EXTEND_EXPORTER_LISTEN_ADDRESS (default port 9864).

    A wildcard host (0.0.0.0, ::, empty) is probed on loopback; a specific host (the exporter bound to
    one interface) is probed there, since nothing answers on 127.0.0.1 then.
    """
    scheme = "https" if _serves_tls() else "http"
    listen = os.environ.get("EXTEND_EXPORTER_LISTEN_ADDRESS", "")
    host, _, port = listen.rpartition(":") if listen else ("", "", str(DEFAULT_PORT))
    if not port.isdigit() or not 0 < int(port) < 65536:
        return None
    host = host.strip("[]")
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "[::1]"
    elif ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}/healthz"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=None,
        metavar="URL",
        help="default: /healthz at the host and port of EXTEND_EXPORTER_LISTEN_ADDRESS (wildcard: 127.0.0.1)",
    )
    parser.add_argument(
        "--timeout", type=float, default=3.0, metavar="SECONDS", help="[default: %(default)s]"
    )


def check(url: str | None, timeout: float) -> int:
    """0 when `url` answers 200; otherwise 1, with one line on stderr saying why."""
    if url is None:
        _fail("EXTEND_EXPORTER_LISTEN_ADDRESS is not host:port; pass --url")
        return 1
    # A loopback probe must never go through an HTTP proxy from the environment. It checks that our
    # own process answers, not who it is: the certificate (issued for the service name) is not verified.
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=insecure)
    )
    try:
        with opener.open(url, timeout=timeout) as response:
            if response.status == 200:
                return 0
            _fail(f"{url} answered HTTP {response.status}")
    except urllib.error.HTTPError as exc:
        body = exc.read(300).decode("utf-8", "replace").strip().splitlines()
        _fail(f"{url} answered HTTP {exc.code}" + (f": {body[0]}" if body else ""))
    except urllib.error.URLError as exc:
        _fail(f"{url}: {_reason(exc.reason)}")
    except (OSError, ValueError) as exc:
        _fail(f"{url}: {_reason(exc)}")
    return 1


def _reason(exc: object) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the exporter running, on this port?)"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _fail(message: str) -> None:
    print(f"extend-exporter healthcheck: unhealthy: {message}", file=sys.stderr)


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def main(argv: Sequence[str]) -> int:
    parser = _OneLineParser(prog="extend-exporter healthcheck", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(list(argv))
    return check(args.url or default_url(), args.timeout)
