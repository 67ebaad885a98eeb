"""``extend-exporter simulate``: the simulator as a standalone server (also ``python -m extend_simulator``).

Prints one line with the URL and the API key, serves until SIGINT/SIGTERM, exits 0.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import UTC, datetime
from types import FrameType
from typing import Any, NoReturn

from .config import SimConfig, WebhookConfig, WebhookFaults
from .demo import INCIDENT, INCIDENT_START, SCENARIOS, config_for, script_for
from .enums import FAMILIES
from .simulator import Simulator


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr and exit 2, the way the exporter's own parser reports them."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _rate(value: str) -> tuple[str, float]:
    fam, sep, per_min = value.partition("=")
    if not sep or fam not in FAMILIES:
        raise argparse.ArgumentTypeError(f"expected FAMILY=PER_MIN with FAMILY in {', '.join(FAMILIES)}")
    try:
        return fam, float(per_min)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad rate {per_min!r}") from exc


def _count(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value!r}")
    return n


def _fraction(value: str) -> float:
    try:
        f = float(value)
    except ValueError:
        f = -1.0
    if not 0 <= f <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction from 0 to 1, got {value!r}")
    return f


def _url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(
            "expected an http(s) URL, e.g. http://127.0.0.1:9865/webhooks/extend"
        )
    return value


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError("expected HOST:PORT with a port from 0 to 65535")
    return host or "127.0.0.1", int(port)


def _start(value: str) -> datetime:
    if value == "now":
        return datetime.now(UTC).replace(microsecond=0)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            "expected 'now' or an ISO 8601 time, e.g. 2026-11-01T00:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every option of `simulate` (and `python -m extend_simulator`), each with its default."""
    _add_workload_arguments(parser)
    _add_server_arguments(parser)
    parser.epilog = (
        "Besides the API, it answers /_sim/truth (what really happened since a /_sim/mark), /_sim/now, "
        "/_sim/advance, /_sim/requests, /_sim/faults, /_sim/revoke, /_sim/restore, /_sim/delete, "
        "/_sim/touch, /_sim/qps, /_sim/rate, /_sim/spike, /_sim/batch and /_sim/webhooks, without a key: see "
        "docs/simulator.md."
    )


def _add_workload_arguments(parser: argparse.ArgumentParser) -> None:
    """What happens in the simulated workspace."""
    parser.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default=None,
        help="the demo's workload: 'normal' (a normal day: every shipped alert silent) or 'incident' (breaks "
        "one thing per alert, from 20 s in); the flags below that are given override it [default: none, "
        "the flags alone]",
    )
    parser.add_argument(
        "--start",
        type=_start,
        default="now",
        metavar="TIME",
        help="virtual clock start: 'now' (runs look as old as they are) or an ISO 8601 time [default: now]",
    )
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="random seed [default: 0]")
    parser.add_argument(
        "--history",
        type=_count,
        default=None,
        metavar="N",
        help=f"finished runs before the start [default: {HISTORY}]",
    )
    parser.add_argument(
        "--stuck-runs",
        type=_count,
        default=None,
        metavar="N",
        help="long-stuck active runs per family (created weeks ago, never finishing) [default: 0]",
    )
    parser.add_argument(
        "--rate",
        type=_rate,
        action="append",
        default=[],
        metavar="FAMILY=PER_MIN",
        help=f"arrival rate per virtual minute; FAMILY in {', '.join(FAMILIES)} (repeatable) "
        f"[default: {_defaults(SimConfig().rates)}]",
    )
    parser.add_argument(
        "--failure-rate",
        type=float,
        default=None,
        metavar="FRACTION",
        help=f"share of runs that end FAILED [default: {SimConfig().failure_rate}]",
    )
    parser.add_argument(
        "--delete-rate",
        type=float,
        default=0.0,
        metavar="PER_MIN",
        help="random deletions per virtual minute [default: 0]",
    )


def _add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Where it listens, its clock, how its API behaves, what it accepts."""
    parser.add_argument(
        "--listen",
        type=_listen,
        default=("127.0.0.1", 8089),
        metavar="HOST:PORT",
        help="listen address, port 0 = any free port [default: 127.0.0.1:8089]",
    )
    parser.add_argument(
        "--realtime",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="advance the virtual clock with wall time (--no-realtime: only POST /_sim/advance moves it) "
        "[default: --realtime]",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="FACTOR",
        help="virtual seconds per wall second [default: 1]",
    )
    parser.add_argument(
        "--cursor-mode",
        choices=("offset", "keyset", "snapshot"),
        default="offset",
        help="how page tokens behave while runs change (see extend_simulator/query.py) [default: offset]",
    )
    parser.add_argument(
        "--qps-limit",
        type=float,
        default=10.0,
        metavar="QPS",
        help="server-side limit on requests per second, answered 429 beyond it (0 = off) [default: 10]",
    )
    parser.add_argument(
        "--timestamp-precision",
        choices=("s", "ms"),
        default="s",
        help="precision of createdAt/updatedAt [default: s]",
    )
    parser.add_argument(
        "--end-token-style",
        choices=("null", "absent"),
        default=None,
        help="how the last page says there is no next one: nextPageToken null or absent [default: "
        "absent for 2026-02-09 lists, null for the legacy ones]",
    )
    parser.add_argument(
        "--parse-order",
        choices=("created_desc", "updated_desc", "created_asc"),
        default="created_desc",
        help="the undocumented order of /parse_runs [default: created_desc]",
    )
    parser.add_argument(
        "--api-key",
        default="sk_sim_test",
        metavar="KEY",
        help="workspace-scoped API key to accept [default: sk_sim_test]",
    )
    parser.add_argument(
        "--org-key",
        default=None,
        metavar="KEY",
        help="also accept this organisation-scoped key (it must send x-extend-workspace-id) [default: none]",
    )
    parser.add_argument(
        "--workspace-id",
        default="ws_sim_0001",
        metavar="ID",
        help="the workspace's ID (what an organisation key must name) [default: ws_sim_0001]",
    )
    _add_webhook_arguments(parser)


#: Finished runs before the start when neither --history nor a scenario says.
HISTORY = 20_000


def _defaults(rates: dict[str, float]) -> str:
    return ", ".join(f"{family}={per_min:g}" for family, per_min in rates.items())


def _add_webhook_arguments(parser: argparse.ArgumentParser) -> None:
    hooks = parser.add_argument_group("webhooks (signed deliveries of every run end, as Extend sends them)")
    hooks.add_argument(
        "--webhook-url",
        type=_url,
        default=None,
        metavar="URL",
        help="deliver to this endpoint [default: none]",
    )
    hooks.add_argument(
        "--webhook-secret",
        default=None,
        metavar="SECRET",
        help="the endpoint's signing secret [default: none]",
    )
    hooks.add_argument(
        "--webhook-api-version",
        choices=("2026-02-09", "2025-04-21"),
        default="2026-02-09",
        help="the endpoint's pinned version: event names and payloads [default: %(default)s]",
    )
    for name, what in (
        ("drop", "never sent"),
        ("duplicate", "sent twice"),
        ("delay", "sent --webhook-delay-seconds late"),
        ("reorder", "sent after the next event"),
        ("bad-signature", "first sent with a wrong signature"),
    ):
        hooks.add_argument(
            f"--webhook-{name}",
            type=_fraction,
            default=0.0,
            metavar="FRACTION",
            help=f"share of events {what} [default: 0]",
        )
    hooks.add_argument(
        "--webhook-delay-seconds",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how late a delayed event is sent [default: 5]",
    )
    hooks.add_argument(
        "--webhook-redeliveries",
        type=_count,
        default=3,
        metavar="N",
        help="attempts after a non-2xx answer, 1 s apart and doubling (0: none) [default: 3]",
    )


def webhook_config(args: argparse.Namespace) -> WebhookConfig | None:
    if args.webhook_url is None:
        return None
    faults = WebhookFaults(
        drop=args.webhook_drop,
        duplicate=args.webhook_duplicate,
        delay=args.webhook_delay,
        delay_seconds=args.webhook_delay_seconds,
        reorder=args.webhook_reorder,
        bad_signature=args.webhook_bad_signature,
    )
    return WebhookConfig(
        args.webhook_url,
        args.webhook_secret,
        api_version=args.webhook_api_version,
        faults=faults,
        redeliveries=args.webhook_redeliveries,
    )


def config_from_args(args: argparse.Namespace) -> SimConfig:
    keys: dict[str, dict[str, Any]] = {args.api_key: {"org_scoped": False}}
    if args.org_key:
        keys[args.org_key] = {"org_scoped": True}
    base = (
        config_for(args.scenario, args.seed) if args.scenario else SimConfig(seed=args.seed, history=HISTORY)
    )
    cfg = base.replace(
        epoch=args.start,
        keys=keys,
        api_key=args.api_key,
        workspace_id=args.workspace_id,
        cursor_mode=args.cursor_mode,
        end_token_style=args.end_token_style,
        timestamp_precision=args.timestamp_precision,
        parse_order=args.parse_order,
        qps_limit=args.qps_limit or None,
        delete_rate_per_min=args.delete_rate,
        realtime=args.realtime,
        speed=args.speed,
        webhooks=webhook_config(args),
    )
    for name, value in (
        ("history", args.history),
        ("stuck_runs", args.stuck_runs),
        ("failure_rate", args.failure_rate),
    ):
        if value is not None:
            setattr(cfg, name, value)
    cfg.rates = {**cfg.rates, **dict(args.rate)}
    return cfg


def run(args: argparse.Namespace) -> int:
    if (args.webhook_url is None) != (args.webhook_secret is None):
        print(
            "extend-simulator: --webhook-url and --webhook-secret go together (see --help)", file=sys.stderr
        )
        return 2
    sim = Simulator(config_from_args(args))
    if args.scenario:
        sim.script(*script_for(args.scenario))
    host, port = args.listen
    try:
        sim.start(host=host, port=port)
    except OSError as exc:
        print(f"extend-simulator: cannot listen on {host}:{port} (--listen): {exc.strerror}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    print(
        f"Extend API simulator listening on {sim.url} "
        f"(api key: {sim.api_key}, workspace: {sim.workspace_id}, cursor mode: {sim.config.cursor_mode})",
        flush=True,
    )
    if args.scenario == "incident":
        print(describe_incident(), flush=True)
    if args.webhook_url:
        print(
            f"Delivering webhooks to {args.webhook_url} (GET {sim.url}/_sim/webhooks counts them)", flush=True
        )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0


def describe_incident() -> str:
    """What the incident breaks and the alerts each raises, one line each."""
    lines = [f"Incident, from {INCIDENT_START:g} s in, until the simulator stops:"]
    lines += [f"  {step.what}: {', '.join(step.alerts)}" for step in INCIDENT]
    return "\n".join(lines)


def start_demo_simulator(scenario: str = "normal", host: str = "127.0.0.1", port: int = 0) -> Simulator:
    """The demo's simulator, serving, its scenario scripted (see ``demo.py``)."""
    sim = Simulator(config_for(scenario))
    sim.script(*script_for(scenario))
    sim.start(host=host, port=port)
    return sim


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="extend-simulator", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
