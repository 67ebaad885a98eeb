"""Protecting /metrics with the exporter-toolkit web config: TLS (trustme certificates) and basic auth.

Decision (docs/http.md): /healthz and /readyz answer without credentials so liveness/readiness
probes and the image's HEALTHCHECK work; /readyz then says only "ready"/"not ready", not why. TLS
covers every path.
"""

from __future__ import annotations

import base64
import socket
import ssl
import statistics
import subprocess
import sys
import time
from pathlib import Path

import bcrypt
import httpx
import pytest
import trustme
from prometheus_client import CollectorRegistry

from exporter.web.webconfig import load_web_config
from extend_simulator import SimConfig, Simulator
from tests.exporter_process import REPO, exporter_env, free_port, wait_until
from tests.test_cli import run_cli

PASSWORD = "correct horse battery staple"


def write_web_config(tmp_path: Path, ca: trustme.CA, rounds: int = 4) -> Path:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(tmp_path / "tls.key"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "tls.crt"))
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=rounds)).decode()
    path = tmp_path / "web.yml"
    path.write_text(
        "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n"
        f"basic_auth_users:\n  prometheus: '{hashed}'\n"
    )
    return path


def test_tls_and_basic_auth_end_to_end(tmp_path: Path) -> None:
    ca = trustme.CA()
    web = write_web_config(tmp_path, ca)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    sim = Simulator(SimConfig(seed=61, history=100, qps_limit=None))
    sim.start(host="127.0.0.1", port=0)
    port = free_port()
    env = {
        "EXTEND_EXPORTER_WEB_CONFIG_FILE": str(web),
        "EXTEND_EXPORTER_LISTEN_ADDRESS": f"127.0.0.1:{port}",
        "EXTEND_EXPORTER_LOG_LEVEL": "info",  # handshake failures are logged at debug only
    }
    try:
        # ExporterProcess probes http://; with TLS on, start it here and probe over https.
        log = (tmp_path / "exporter.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "exporter", "run"],
            env=exporter_env(sim.url, sim.api_key, port=port, kinds="extract_run", extra_env=env),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        try:
            base = f"https://127.0.0.1:{port}"
            client = httpx.Client(verify=ssl.create_default_context(cafile=str(ca_file)), timeout=5)
            wait_until(lambda: client.get(f"{base}/healthz").status_code == 200, timeout=20, message="TLS up")
            # basic auth on /metrics and the landing page
            assert client.get(f"{base}/metrics").status_code == 401
            assert client.get(f"{base}/metrics").headers["WWW-Authenticate"].startswith("Basic")
            assert client.get(f"{base}/metrics", auth=("prometheus", "wrong")).status_code == 401
            assert client.get(f"{base}/metrics", auth=("nobody", PASSWORD)).status_code == 401
            assert client.get(f"{base}/", auth=("prometheus", "wrong")).status_code == 401
            garbage = {"Authorization": "Basic !!!not-base64"}
            assert client.get(f"{base}/metrics", headers=garbage).status_code == 401
            ok = client.get(f"{base}/metrics", auth=("prometheus", PASSWORD))
            assert ok.status_code == 200 and b"extend_up" in ok.content
            # probes without credentials; /readyz without its reasons
            ready = wait_until(
                lambda: (r := client.get(f"{base}/readyz")).status_code == 200 and r,
                timeout=20,
                message="ready",
            )
            assert ready.text == "ready\n"
            # TLS is not optional: plain HTTP on the TLS port gets nothing, and the server survives it
            with pytest.raises(httpx.HTTPError):
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=3)
            with socket.create_connection(("127.0.0.1", port), timeout=3) as raw:
                raw.sendall(b"\x16\x03\x01garbage-handshake")
            # an untrusted client (no CA) fails the handshake
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"{base}/healthz", timeout=3)
            assert client.get(f"{base}/metrics", auth=("prometheus", PASSWORD)).status_code == 200
            client.close()
        finally:
            proc.terminate()
            assert proc.wait(timeout=15) == 0
            log.close()
        text = (tmp_path / "exporter.log").read_text()
        assert "Traceback" not in text, text
        assert PASSWORD not in text
    finally:
        sim.stop()


def test_healthcheck_default_url_follows_listen_address() -> None:
    """`extend-exporter healthcheck` without --url used to crash (urlopen(None))."""
    port = free_port()
    result = run_cli(
        "healthcheck", "--timeout", "1", env={"EXTEND_EXPORTER_LISTEN_ADDRESS": f"127.0.0.1:{port}"}
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr


def test_healthcheck_command_works_with_tls(tmp_path: Path) -> None:
    from exporter.metrics.collector import Exposition
    from exporter.web.server import MetricsServer

    web_path = write_web_config(tmp_path, trustme.CA())
    web = load_web_config(web_path)
    exposition = Exposition(CollectorRegistry())
    exposition.refresh()
    server = MetricsServer(
        "127.0.0.1", free_port(), exposition, list, authorize=web.authorize, wrap_socket=web.wrap_server
    )
    server.start()
    try:
        env = {
            "EXTEND_EXPORTER_LISTEN_ADDRESS": f"127.0.0.1:{server.port}",
            "EXTEND_EXPORTER_WEB_CONFIG_FILE": str(web_path),
        }
        assert run_cli("healthcheck", env=env, timeout=20).returncode == 0
    finally:
        server.stop()


def _median_check_time(config_path: Path, header: str) -> float:
    web = load_web_config(config_path)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        assert not web.authorize(header)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@pytest.mark.timing
@pytest.mark.parametrize("rounds", [6, 12])
def test_unknown_user_costs_as_much_as_a_wrong_password(tmp_path: Path, rounds: int) -> None:
    """Timing-safe: a wrong user name is not told apart from a wrong password by response time."""
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=rounds)).decode()
    path = tmp_path / "web.yml"
    path.write_text(f"basic_auth_users:\n  prometheus: '{hashed}'\n")

    def basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    wrong_password = _median_check_time(path, basic("prometheus", "guess"))
    unknown_user = _median_check_time(path, basic("admin", "guess"))
    ratio = unknown_user / wrong_password
    assert 0.5 < ratio < 2.0, (
        f"unknown user {unknown_user * 1000:.1f} ms vs wrong password {wrong_password * 1000:.1f} ms"
    )


STRICT_CASES = {
    "min_version typo": (
        "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n  min_version: TLS1.3\n",
        "min_version",
    ),
    "max_version typo": (
        "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n  max_version: tls13\n",
        "max_version",
    ),
    "unknown tls key": (
        "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n  min_verison: TLS13\n",
        "unknown key 'tls_server_config.min_verison'",
    ),
    "unknown section": ("http_server_confg:\n  http2: false\n", "unknown key 'http_server_confg'"),
    "unsupported headers": (
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
        "http_server_config.headers is not supported",
    ),
    "http2 not a bool": ("http_server_config:\n  http2: maybe\n", "http2 must be true or false"),
    "unsupported cipher_suites": (
        "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n"
        "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n",
        "cipher_suites is not supported",
    ),
    "section not a mapping": ("tls_server_config: yes\n", "tls_server_config must be a mapping"),
}


@pytest.mark.parametrize("case", list(STRICT_CASES))
def test_web_config_is_parsed_strictly(tmp_path: Path, case: str) -> None:
    ca = trustme.CA()
    write_web_config(tmp_path, ca)  # tls.crt / tls.key beside the file
    text, expected = STRICT_CASES[case]
    path = tmp_path / "strict.yml"
    path.write_text(text)
    result = run_cli(env={"EXTEND_API_KEY": "sk_strict", "EXTEND_EXPORTER_WEB_CONFIG_FILE": str(path)})
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert expected in lines[0] and "EXTEND_EXPORTER_WEB_CONFIG_FILE" in lines[0]


def test_tls_versions_and_http2_that_exporter_toolkit_accepts_load(tmp_path: Path) -> None:
    write_web_config(tmp_path, trustme.CA())
    path = tmp_path / "ok.yml"
    path.write_text(
        "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n  min_version: TLS12\n"
        "  max_version: TLS13\nhttp_server_config:\n  http2: false\n"
    )
    web = load_web_config(path)
    assert web.tls is not None and web.tls.minimum_version == ssl.TLSVersion.TLSv1_2
    assert web.tls.maximum_version == ssl.TLSVersion.TLSv1_3


@pytest.mark.parametrize("scheme", ["Basic", "basic", "BASIC", "bAsIc"])
def test_basic_auth_scheme_is_case_insensitive(tmp_path: Path, scheme: str) -> None:
    path = write_web_config(tmp_path, trustme.CA())
    web = load_web_config(path)
    token = base64.b64encode(f"prometheus:{PASSWORD}".encode()).decode()
    assert web.authorize(f"{scheme} {token}")
    assert not web.authorize(f"Bearer {token}")
    assert not web.authorize(f"{scheme} " + base64.b64encode(b"prometheus:wrong").decode())
