"""Helpers shared by the end-to-end tests: free ports, deadlines, an exporter subprocess, metrics."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent


# Ports for the servers the tests start are drawn below the kernel's ephemeral range, where no outgoing
# connection lands: between free_port() and the server's bind, the parallel workers' thousands of client
# connections cannot take the port. Seeded from os.urandom, so workers and suites side by side differ.
_PORTS = random.Random()
_LOWEST_PORT = 20_000


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_port() -> int:
    """A loopback TCP port nothing listens on, outside the ephemeral range when there is room."""
    top = _ephemeral_floor()
    for _ in range(200 if top - _LOWEST_PORT >= 1000 else 0):
        port = _PORTS.randrange(_LOWEST_PORT, top)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], T | bool | None], timeout: float, interval: float = 0.05, message: str = ""
) -> T:
    """Poll until `predicate` returns something truthy; AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = predicate()
        except Exception as exc:  # the thing polled may not be up yet
            value, last = None, exc
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate}: {last!r}")
        time.sleep(interval)


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_metrics(text: str) -> Samples:
    """Every sample as {(name, sorted labels): value}."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def series(samples: Samples, name: str, **match: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        labels: v
        for (n, labels), v in samples.items()
        if n == name and all(dict(labels).get(k) == val for k, val in match.items())
    }


class ManagedProcess:
    """A subprocess with its output in a log file, started until `_ready()` and stopped for sure."""

    name = "process"

    def __init__(self, argv: list[str], env: dict[str, str] | None, log_path: Path, url: str) -> None:
        self.url = url
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO)
        try:
            wait_until(self._alive_and_ready, timeout=30, interval=0.1, message=f"{self.name} ready")
        except AssertionError as exc:
            self.stop()
            raise AssertionError(f"{self.name} did not start ({exc}):\n{self.logs()}") from None

    def _ready(self) -> bool:
        raise NotImplementedError

    def _alive_and_ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.logs()}")
        return self._ready()

    def logs(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def send(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 15) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()
        return self.proc.returncode

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class ExporterProcess(ManagedProcess):
    """`python -m exporter run` in a subprocess on a free loopback port."""

    name = "exporter"

    def __init__(self, env: dict[str, str], port: int, log_path: Path) -> None:
        self.port = port
        super().__init__([sys.executable, "-m", "exporter", "run"], env, log_path, f"http://127.0.0.1:{port}")

    def _ready(self) -> bool:
        return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=5, **kwargs)  # type: ignore[arg-type]

    def metrics_text(self) -> str:
        response = self.get("/metrics")
        response.raise_for_status()
        return response.text

    def metrics(self) -> Samples:
        return parse_metrics(self.metrics_text())


def exporter_env(
    sim_url: str,
    api_key: str,
    *,
    port: int,
    kinds: str | None = None,
    poll_interval: float = 1.0,
    extra_env: dict[str, str] | None = None,
    state_file: str | None = None,
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXTEND_")}
    env.update(
        EXTEND_API_KEY=api_key,
        EXTEND_API_BASE_URL=sim_url,
        EXTEND_EXPORTER_LISTEN_ADDRESS=f"127.0.0.1:{port}",
        EXTEND_EXPORTER_POLL_INTERVAL_SECONDS=str(poll_interval),
        EXTEND_EXPORTER_MAX_REQUESTS_PER_SECOND="50",
        EXTEND_EXPORTER_LOG_LEVEL="debug",
    )
    if kinds:
        env["EXTEND_EXPORTER_KINDS"] = kinds
    if state_file:
        env["EXTEND_EXPORTER_STATE_FILE"] = state_file
    env.update(extra_env or {})
    return env


def start_exporter(
    sim_url: str,
    api_key: str,
    *,
    kinds: str | None = None,
    poll_interval: float = 1.0,
    extra_env: dict[str, str] | None = None,
    state_file: str | None = None,
) -> ExporterProcess:
    port = free_port()
    env = exporter_env(
        sim_url,
        api_key,
        port=port,
        kinds=kinds,
        poll_interval=poll_interval,
        extra_env=extra_env,
        state_file=state_file,
    )
    log_path = Path(tempfile.mkdtemp(prefix="extend-exporter-test-")) / "exporter.log"
    return ExporterProcess(env, port, log_path)
