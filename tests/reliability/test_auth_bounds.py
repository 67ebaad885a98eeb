"""Password checks cannot be used to starve scrapes or to tell users apart (issue 14; docs/http.md)."""

from __future__ import annotations

import base64
import http.client
import statistics
import threading
import time
from pathlib import Path

import bcrypt
import pytest

from exporter.web.webconfig import load_web_config
from extend_simulator import SimConfig, Simulator
from tests.exporter_process import ExporterProcess, exporter_env, free_port

PASSWORD = "correct horse battery staple"
# docs/http.md: an authorised scrape's p99 while 16 clients keep guessing passwords.
AUTHORISED_P99_BOUND = 0.100

pytestmark = pytest.mark.timing


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _hash(rounds: int) -> str:
    return bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=rounds)).decode()


def test_users_with_hashes_of_different_cost_are_not_told_apart(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text(f"basic_auth_users:\n  cheap: '{_hash(4)}'\n  dear: '{_hash(11)}'\n")
    web = load_web_config(path)

    def median_seconds(header: str) -> float:
        times = []
        for _ in range(5):
            started = time.perf_counter()
            assert not web.authorize(header)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    cheap = median_seconds(_basic("cheap", "guess"))
    dear = median_seconds(_basic("dear", "guess"))
    unknown = median_seconds(_basic("nobody", "guess"))
    figures = f"cheap {cheap * 1000:.1f} ms, dear {dear * 1000:.1f} ms, unknown {unknown * 1000:.1f} ms"
    print(figures)
    for value in (cheap, unknown):
        assert 0.66 < value / dear < 1.5, figures
    assert web.authorize(_basic("cheap", PASSWORD)) and web.authorize(_basic("dear", PASSWORD))


@pytest.mark.slow
def test_wrong_passwords_do_not_starve_authorised_scrapes(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  prometheus: '{_hash(12)}'\n")
    sim = Simulator(SimConfig(seed=14, history=100, qps_limit=None))
    sim.start(host="127.0.0.1", port=0)
    port = free_port()
    env = exporter_env(
        sim.url,
        sim.api_key,
        port=port,
        kinds="extract_run",
        extra_env={"EXTEND_EXPORTER_WEB_CONFIG_FILE": str(web), "EXTEND_EXPORTER_LOG_LEVEL": "info"},
    )
    stop = threading.Event()
    guesses: list[int] = []

    def guess() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while not stop.is_set():
            conn.request("GET", "/metrics", headers={"Authorization": _basic("prometheus", "guess")})
            response = conn.getresponse()
            response.read()
            guesses.append(response.status)
            if response.will_close:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.close()

    def scrape() -> float:
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/metrics", headers={"Authorization": _basic("prometheus", PASSWORD)})
        response = conn.getresponse()
        response.read()
        conn.close()
        assert response.status == 200
        return time.perf_counter() - started

    try:
        with ExporterProcess(env, port, tmp_path / "exporter.log"):
            scrape()  # the first success is cached
            baseline = sorted(scrape() for _ in range(20))
            guessers = [threading.Thread(target=guess) for _ in range(16)]
            for thread in guessers:
                thread.start()
            try:
                latencies = []
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    latencies.append(scrape())
                    time.sleep(0.05)
            finally:
                stop.set()
                for thread in guessers:
                    thread.join(15)
    finally:
        sim.stop()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    figures = (
        f"authorised p99 {p99 * 1000:.1f} ms (idle max {baseline[-1] * 1000:.1f} ms) over {len(latencies)}"
        f" scrapes; {len(guesses)} wrong guesses, all 401: {set(guesses) == {401}}"
    )
    print(figures)
    assert set(guesses) == {401}, figures
    assert p99 < AUTHORISED_P99_BOUND, figures
