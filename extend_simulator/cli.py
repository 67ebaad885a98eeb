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
    parser.add_argument(
        "--listen",
        type=_listen,
        default=("127.0.0.1", 8089),
        metavar="HOST:PORT",
        help="listen address, port 0 = any free port [default: 127.0.0.1:8089]",
    )
    parser.add_argument(
        "--start",
        type=_start,
        default="now",
        metavar="TIME",
        help="virtual clock start: 'now' (default: runs look as old as they are) or an ISO 8601 time",
    )
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="random seed [default: 0]")
    parser.add_argument(
        "--history", type=int, default=20_000, metavar="N", help="finished runs before the start"
    )
    parser.add_argument(
        "--stuck-runs",
        type=_count,
        default=0,
        help="long-stuck active runs per family (created weeks ago, never finishing)",
    )
    parser.add_argument(
        "--rate",
        type=_rate,
        action="append",
        default=[],
        metavar="FAMILY=PER_MIN",
        help=f"arrival rate per virtual minute; FAMILY in {', '.join(FAMILIES)} (repeatable)",
    )
    parser.add_argument(
        "--realtime",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="advance the virtual clock with wall time (--no-realtime: only POST /_sim/advance moves it)",
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, metavar="FACTOR", help="virtual seconds per wall second"
    )
    parser.add_argument("--cursor-mode", choices=("offset", "keyset", "snapshot"), default="offset")
    parser.add_argument(
        "--qps-limit", type=float, default=10.0, metavar="QPS", help="server-side QPS limit (0 = off)"
    )
    parser.add_argument("--timestamp-precision", choices=("s", "ms"), default="s")
    parser.add_argument("--end-token-style", choices=("null", "absent"), default=None)
    parser.add_argument(
        "--parse-order", choices=("created_desc", "updated_desc", "created_asc"), default="created_desc"
    )
    parser.add_argument("--failure-rate", type=float, default=0.05, metavar="FRACTION")
    parser.add_argument(
        "--delete-rate",
        type=float,
        default=0.0,
        metavar="PER_MIN",
        help="random deletions per virtual minute",
    )
    parser.add_argument(
        "--api-key", default="sk_sim_test", metavar="KEY", help="workspace-scoped API key to accept"
    )
    parser.add_argument(
        "--org-key", default=None, metavar="KEY", help="also accept this organisation-scoped key"
    )
    parser.add_argument("--workspace-id", default="ws_sim_0001", metavar="ID")
    _add_webhook_arguments(parser)


def _add_webhook_arguments(parser: argparse.ArgumentParser) -> None:
    hooks = parser.add_argument_group("webhooks (signed deliveries of every run end, as Extend sends them)")
    hooks.add_argument(
        "--webhook-url", type=_url, default=None, metavar="URL", help="deliver to this endpoint"
    )
    hooks.add_argument(
        "--webhook-secret", default=None, metavar="SECRET", help="the endpoint's signing secret"
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
            help=f"share of events {what}",
        )
    hooks.add_argument("--webhook-delay-seconds", type=float, default=5.0, metavar="SECONDS")
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
    cfg = SimConfig(
        seed=args.seed,
        epoch=args.start,
        keys=keys,
        api_key=args.api_key,
        workspace_id=args.workspace_id,
        cursor_mode=args.cursor_mode,
        end_token_style=args.end_token_style,
        timestamp_precision=args.timestamp_precision,
        parse_order=args.parse_order,
        qps_limit=args.qps_limit or None,
        history=args.history,
        stuck_runs=args.stuck_runs,
        failure_rate=args.failure_rate,
        delete_rate_per_min=args.delete_rate,
        realtime=args.realtime,
        speed=args.speed,
        webhooks=webhook_config(args),
    )
    for fam, per_min in args.rate:
        cfg.rates[fam] = per_min
    return cfg


def run(args: argparse.Namespace) -> int:
    if (args.webhook_url is None) != (args.webhook_secret is None):
        print(
            "extend-simulator: --webhook-url and --webhook-secret go together (see --help)", file=sys.stderr
        )
        return 2
    sim = Simulator(config_from_args(args))
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


def demo_config(seed: int = 7) -> SimConfig:
    """A lively default workload across all families, real-clock, modest history, 10 QPS."""
    return SimConfig(
        seed=seed,
        # Start the virtual clock at the real now, so ages and timestamps look like a live workspace.
        epoch=datetime.now(UTC).replace(microsecond=0),
        history=20_000,
        stuck_runs=3,  # every real workspace has a few runs Extend never finished
        rates={
            "workflow": 20.0,
            "extract": 40.0,
            "classify": 30.0,
            "split": 20.0,
            "parse": 40.0,
            "edit": 15.0,
            "verify": 15.0,
        },
        # Shorter than the defaults, so every kind shows finished runs within seconds of starting.
        durations={
            "workflow": 30.0,
            "extract": 12.0,
            "classify": 5.0,
            "split": 8.0,
            "parse": 6.0,
            "edit": 8.0,
            "verify": 10.0,
        },
        failure_rate=0.08,
        cancel_rate=0.03,
        needs_review_rate=0.25,
        review_seconds=120.0,
        qps_limit=10.0,
        realtime=True,
        speed=1.0,
    )


def start_demo_simulator(host: str = "127.0.0.1", port: int = 0) -> Simulator:
    sim = Simulator(demo_config())
    sim.start(host=host, port=port)
    return sim


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="extend-simulator", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
