"""A MemoryError while answering a request ends the process like one in a sync (exporter/fatal.py).

The HTTP worker catches Exception so that one bad request cannot stop the server; MemoryError is an
Exception too, and swallowing it would leave a process that no longer works but is never restarted.
A real server in a child process answers /readyz with a readiness check that runs out of memory.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request

from tests.exporter_process import wait_until

SERVER = textwrap.dedent(
    """
    import sys, time
    from prometheus_client import CollectorRegistry
    from exporter import fatal
    from exporter.metrics.collector import Exposition
    from exporter.web.server import MetricsServer

    def readiness():
        raise MemoryError()

    fatal.install()
    exposition = Exposition(CollectorRegistry())
    exposition.refresh()
    server = MetricsServer("127.0.0.1", 0, exposition, readiness)
    server.start()
    print(server.port, flush=True)
    time.sleep(60)
    """
)


def test_memory_error_in_a_request_ends_the_process_with_a_last_line() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).status == 200
        with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5)  # gone before it answers
        wait_until(lambda: child.poll() is not None, timeout=10, interval=0.05, message="the process exits")
        _, stderr = child.communicate(timeout=5)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 3, (child.returncode, stderr)
    assert stderr.strip().splitlines()[-1] == (
        "extend-exporter: FATAL out of memory (MemoryError in an HTTP worker); "
        "exiting so that it is restarted"
    )
