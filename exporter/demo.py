"""`extend-exporter demo`: the built-in simulator and the exporter against it, a normal day or an incident.

A normal day keeps every shipped alert silent; the incident (`extend_simulator/demo.py`) breaks one thing
per alert. The demo breaks what the simulator cannot: the exporter's own state file
(`ExtendStateFileWriteFailing`), and it gives the exporter a request timeout that outlasts the
simulator's hung request, so that a sync never ends (`ExtendSyncStale`).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from .api.apikey import ApiKeySource
from .config import DEFAULT_PORT, Settings, load_settings, parse_duration, parse_listen_address
from .logs import setup_logging

#: `serve(settings, keys, ready_message, listen_setting)` of cli.py: runs the exporter until a signal.
Serve = Callable[[Settings, ApiKeySource, str, str], int]

DEFAULT_LISTEN = f"127.0.0.1:{DEFAULT_PORT}"
SCENARIOS = ("normal", "incident")
MORE_FOR_THE_INCIDENT = """\
  the exporter's state file: its directory is removed: ExtendStateFileWriteFailing
With Prometheus scraping the demo, also: stop the demo and leave its target in place (ExtendExporterDown
after 5m); run a second exporter against the simulator above (key {key}) and scrape it too
(ExtendWorkspacePolledTwice after 15m)."""


def _listen(value: str) -> str:
    try:
        parse_listen_address(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _interval(value: str) -> float:
    try:
        seconds = float(parse_duration(value))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not 0 < seconds <= 86400:
        raise argparse.ArgumentTypeError("must be a duration above 0 and up to 1d")
    return seconds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default="normal",
        help="'normal': a normal day, every shipped alert silent; 'incident': one thing breaks per alert, "
        "from 20 s in, and each alert fires in turn (but ExtendWebhooksSilent: the demo has no webhook "
        "listener) [default: %(default)s]",
    )
    parser.add_argument(
        "--listen",
        type=_listen,
        default=None,
        metavar="HOST:PORT",
        help=f"exporter listen address [default: {DEFAULT_LISTEN}, or a free port when that is taken]",
    )
    parser.add_argument(
        "--poll-interval",
        type=_interval,
        default=5.0,
        metavar="DURATION",
        help="time between syncs: 90s, 5m or seconds [default: %(default)s]",
    )


def _free_default() -> str:
    """The default address, or a free loopback port when something else has 9864."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", DEFAULT_PORT))
            return DEFAULT_LISTEN
        except OSError:
            pass
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    print(f"Port {DEFAULT_PORT} is taken; the exporter listens on {port} instead")
    return f"127.0.0.1:{port}"


def run(args: argparse.Namespace, serve: Serve) -> int:
    from extend_simulator.cli import describe_incident, start_demo_simulator
    from extend_simulator.demo import HANG_SECONDS, INCIDENT_START

    listen = args.listen or _free_default()
    sim = start_demo_simulator(args.scenario)
    scratch = Path(tempfile.mkdtemp(prefix="extend-exporter-demo-"))
    timer: threading.Timer | None = None
    try:
        overrides: dict[str, Any] = {
            "api_base_url": sim.url,
            "api_key": sim.api_key,
            "listen_address": listen,
            "poll_interval_seconds": args.poll_interval,
            "max_requests_per_second": 5,
            "sync_overlap_seconds": 30,
        }
        what = "an incident" if args.scenario == "incident" else "a normal day"
        print(f"Extend API simulator on {sim.url} (key {sim.api_key}): {what}")
        if args.scenario == "incident":
            state_dir = scratch / "state"
            state_dir.mkdir()
            overrides["state_file"] = state_dir / "state.json"
            overrides["request_timeout_seconds"] = 2 * HANG_SECONDS
            delay = max(0.0, INCIDENT_START - sim.virtual_elapsed())
            timer = threading.Timer(delay, shutil.rmtree, args=(state_dir,), kwargs={"ignore_errors": True})
            timer.daemon = True
            timer.start()
            print(describe_incident())
            print(MORE_FOR_THE_INCIDENT.format(key=sim.api_key))
        settings = load_settings(overrides)
        keys = ApiKeySource(SecretStr(sim.api_key), None)
        setup_logging(settings.log_level, settings.log_format, keys.secrets)
        host = listen.rpartition(":")[0] or "127.0.0.1"
        ready = f"Exporter metrics: http://{host}:{{port}}/metrics  (Ctrl-C to stop)"
        return serve(settings, keys, ready, "--listen")
    finally:
        if timer is not None:
            timer.cancel()
        sim.stop()
        shutil.rmtree(scratch, ignore_errors=True)
