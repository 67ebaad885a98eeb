"""Watching an exporter under attack: scrapes of /metrics as Prometheus makes them, its threads and
RSS from /proc, and the hostile clients of abuse.py in a subprocess."""

from __future__ import annotations

import http.client
import json
import os
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.exporter_process import REPO

# Pause between the watcher's scrapes: an 8 s attack still yields some 300 scrapes, so the p99 is not
# simply the slowest one.
SCRAPE_PAUSE = 0.025


def proc_status(pid: int) -> tuple[int, int]:
    """(threads, RSS bytes) of a process."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(fields["Threads"]), int(fields["VmRSS"].split()[0]) * 1024


class ScrapeWatch:
    """Scrapes /metrics (a new connection each time, the harder case) and samples threads and RSS."""

    def __init__(self, pid: int, port: int, tls: ssl.SSLContext | None) -> None:
        self.pid, self.port, self.tls = pid, port, tls
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.max_threads = 0
        self.max_rss = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._scrape), threading.Thread(target=self._sample)]

    def _connection(self) -> http.client.HTTPConnection:
        if self.tls is not None:
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=5, context=self.tls)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)

    def _scrape(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            conn = self._connection()
            try:
                conn.request("GET", "/metrics")
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    self.failures.append(f"status {response.status}")
            except OSError as exc:
                self.failures.append(repr(exc))
            finally:
                conn.close()
            self.latencies.append(time.perf_counter() - started)
            self._stop.wait(SCRAPE_PAUSE)

    def _sample(self) -> None:
        while not self._stop.is_set():
            threads, rss = proc_status(self.pid)
            self.max_threads, self.max_rss = max(self.max_threads, threads), max(self.max_rss, rss)
            self._stop.wait(0.2)

    def __enter__(self) -> ScrapeWatch:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def p99(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def as_a_remote_client() -> None:
    """Attackers come from other machines and do not share the exporter's CPU: on this one they run at
    the lowest priority, so the bound measured is what the exporter gives a scrape, not what a busy
    2-core test machine takes from it."""
    os.setpriority(os.PRIO_PROCESS, 0, 19)


def attack_with(mode: str, port: int, connections: int, seconds: float, *extra: str) -> dict[str, float]:
    argv = [sys.executable, "-m", "tests.reliability.abuse", mode, "127.0.0.1", str(port)]
    argv += ["--connections", str(connections), "--seconds", str(seconds), *extra]
    done = subprocess.run(
        argv,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
        preexec_fn=as_a_remote_client,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
