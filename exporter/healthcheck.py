"""`extend-exporter healthcheck`: GET /healthz and exit 0 on 200, 1 otherwise.

Standard library only, so a container HEALTHCHECK (which may run under a tight timeout, on a
read-only filesystem where nothing is byte-compiled on the fly) starts in a few milliseconds.
"""

from __future__ import annotations

import argparse
import os
import ssl
import urllib.error
import urllib.request
from collections.abc import Sequence

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
    """/healthz on 127.0.0.1 at the port of EXTEND_EXPORTER_LISTEN_ADDRESS (or 9864)."""
    scheme = "https" if _serves_tls() else "http"
    listen = os.environ.get("EXTEND_EXPORTER_LISTEN_ADDRESS")
    port = listen.rpartition(":")[2] if listen else str(DEFAULT_PORT)
    if not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return f"{scheme}://127.0.0.1:{port}/healthz"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=None,
        help="default: /healthz on 127.0.0.1 at the port of EXTEND_EXPORTER_LISTEN_ADDRESS",
    )
    parser.add_argument("--timeout", type=float, default=3.0)


def check(url: str | None, timeout: float) -> int:
    if url is None:
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
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError, ValueError):
        return 1


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="extend-exporter healthcheck", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(list(argv))
    return check(args.url or default_url(), args.timeout)
