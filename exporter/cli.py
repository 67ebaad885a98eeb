"""Command line: run (default), check, demo, simulate, generate, healthcheck."""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING, Literal, NoReturn, get_args, get_origin

from pydantic.fields import FieldInfo

from . import __version__
from .api.apikey import ApiKeyError, ApiKeySource
from .config import (
    ConfigError,
    Settings,
    env_name,
    flag_name,
    load_settings,
)
from .demo import add_arguments as add_demo_arguments
from .fatal import arm_shutdown_deadline
from .fatal import install as install_fatal_hooks
from .logs import MIN_REDACTED_LENGTH, redactable, setup_logging
from .web.healthcheck import add_arguments as add_healthcheck_arguments
from .web.healthcheck import check as check_health
from .web.healthcheck import default_url as default_health_url
from .webhooks.secrets import WebhookSecretError, WebhookSecrets

if TYPE_CHECKING:
    from .api.client import ApiClient
    from .app import Exporter

log = logging.getLogger("exporter")

COMMANDS = ("run", "check", "demo", "simulate", "generate", "healthcheck")
EXIT_CONFIG = 2
# SIGTERM: syncs in flight get this long to finish or be abandoned (Kubernetes waits 30 s by default).
SHUTDOWN_DEADLINE_SECONDS = 10.0
# Past the deadline plus this, SIGALRM ends a shutdown that hangs (exit status 142): never a hang.
SHUTDOWN_GRACE_SECONDS = 5.0


# Settings `check` reads; the others (listening, state, scheduling, labels) would be silently ignored.
CHECK_SETTINGS = (
    "api_key",
    "api_key_file",
    "api_base_url",
    "api_version",
    "workspace_id",
    "kinds",
    "max_requests_per_second",
    "request_timeout_seconds",
    "max_retries",
    "max_response_bytes_per_run",
    "max_runs_per_listing",
    "max_retry_after_seconds",
    "log_format",
)


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (exit 2), like every other bad setting."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_CONFIG, f"{self.prog}: {message} (see --help)\n")


def _metavar(name: str, field: FieldInfo) -> str:
    if get_origin(field.annotation) is Literal:
        return "{" + ",".join(str(a) for a in get_args(field.annotation)) + "}"
    if name.endswith("_seconds"):
        return "DURATION"
    if name.endswith("listen_address"):
        return "HOST:PORT"
    if name == "api_base_url":
        return "URL"
    if name.endswith("_file"):
        return "FILE"
    if name in ("kinds", "per_resource_allow"):
        return "LIST"
    if field.annotation is int:
        return "N"
    if field.annotation is float:
        return "NUMBER"
    return name.split("_")[-1].upper()


def _add_settings_flags(parser: argparse.ArgumentParser, only: Sequence[str] | None = None) -> None:
    group = parser.add_argument_group("settings (each also read from its environment variable)")
    for name, field in Settings.model_fields.items():
        if only is not None and name not in only:
            continue
        default = field.get_default(call_default_factory=True)
        shown = "" if default in (None, [], "") else f" [default: {default}]"
        if name == "api_key":
            shown = ""
        help_text = f"{field.description} Env: {env_name(name)}.{shown}"
        if field.annotation is bool:
            group.add_argument(
                flag_name(name),
                dest=name,
                default=None,
                action=argparse.BooleanOptionalAction,
                help=help_text,
            )
            continue
        group.add_argument(
            flag_name(name), dest=name, default=None, metavar=_metavar(name, field), help=help_text
        )


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="extend-exporter",
        description="Prometheus exporter for Extend (extend.ai) document-processing runs.",
        epilog="Without a command, `run` is assumed. `extend-exporter COMMAND --help` lists its flags.",
    )
    parser.add_argument("--version", action="version", version=f"extend-exporter {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    run = sub.add_parser("run", help="serve /metrics, syncing runs from the Extend API (default)")
    _add_settings_flags(run)
    check = sub.add_parser("check", help="validate settings and credentials: one request per kind")
    _add_settings_flags(check, CHECK_SETTINGS)
    demo = sub.add_parser("demo", help="start the built-in Extend simulator and the exporter against it")
    add_demo_arguments(demo)
    simulate = sub.add_parser(
        "simulate",
        help="serve the built-in Extend API simulator",
        description="Serve the built-in Extend API simulator until Ctrl-C; it prints its URL and the key it "
        "accepts.",
    )
    try:
        from extend_simulator.cli import add_arguments
    except ImportError:  # pragma: no cover - the simulator ships with the package
        pass
    else:
        add_arguments(simulate)
    generate = sub.add_parser(
        "generate", help="write the alert rules, runbook and dashboards with your settings"
    )
    try:
        from grafana.generate import add_arguments as add_generate_arguments
    except ImportError:  # pragma: no cover - the generator ships with the package
        pass
    else:
        add_generate_arguments(generate)
    health = sub.add_parser("healthcheck", help="exit 0 when the exporter's /healthz answers 200")
    add_healthcheck_arguments(health)
    return parser


def _settings_from(args: argparse.Namespace) -> Settings:
    overrides = {name: getattr(args, name, None) for name in Settings.model_fields}
    return load_settings(overrides)


def _invalid(field: str, message: str) -> ConfigError:
    return ConfigError(f"invalid setting {env_name(field)} ({flag_name(field)}): {message}")


KEY_FLAG_WARNING = (
    "--api-key puts the key where every local user can read it (ps, /proc/PID/cmdline); "
    "use EXTEND_API_KEY or --api-key-file instead"
)


def _key_source(settings: Settings) -> ApiKeySource:
    try:
        return ApiKeySource(settings.api_key, settings.api_key_file)
    except ApiKeyError as exc:
        raise _invalid(exc.setting, str(exc)) from None


def _webhook_secrets(settings: Settings) -> WebhookSecrets | None:
    if settings.webhook_listen_address is None:
        return None
    try:
        return WebhookSecrets(settings.webhook_secret, settings.webhook_secret_file)
    except WebhookSecretError as exc:
        raise _invalid(exc.setting, str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    first = args_list[0] if args_list else "-"
    if first not in COMMANDS and not first.startswith("-"):
        close = difflib.get_close_matches(first, COMMANDS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; commands: {', '.join(COMMANDS)}"
        print(f"extend-exporter: unknown command {first!r}{hint}", file=sys.stderr)
        return EXIT_CONFIG
    if first not in COMMANDS and first not in ("-h", "--help", "--version"):
        args_list.insert(0, "run")
    args = build_parser().parse_args(args_list)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "check":
            return _check(args)
        if args.command == "demo":
            return _demo(args)
        if args.command == "simulate":
            from extend_simulator.cli import run as run_simulator

            return run_simulator(args)
        if args.command == "generate":
            from grafana.generate import run as run_generator

            return run_generator(args)
        return _healthcheck(args)
    except ConfigError as exc:
        print(f"extend-exporter: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


def serve(
    settings: Settings,
    keys: ApiKeySource,
    ready_message: str | None = None,
    listen_setting: str = "EXTEND_EXPORTER_LISTEN_ADDRESS (--listen-address)",
    webhook_secrets: WebhookSecrets | None = None,
) -> int:
    """Run the exporter until SIGTERM/SIGINT; flushes the state file on the way out."""
    from .factory import build_exporter
    from .statefile.store import StateFileError

    install_fatal_hooks()
    exporter = build_exporter(settings, keys)
    try:
        exporter.load_state()
    except StateFileError as exc:
        raise ConfigError(f"invalid setting EXTEND_EXPORTER_STATE_FILE (--state-file): {exc}") from None
    try:
        server = exporter.start_server()
    except OSError as exc:
        raise ConfigError(
            f"invalid setting {listen_setting}: cannot listen on {settings.listen_address}: {exc.strerror}"
        ) from None
    if webhook_secrets is not None:
        try:
            exporter.start_webhook_listener(webhook_secrets)
        except OSError as exc:
            raise ConfigError(
                "invalid setting EXTEND_EXPORTER_WEBHOOK_LISTEN_ADDRESS (--webhook-listen-address): cannot "
                f"listen on {settings.webhook_listen_address}: {exc.strerror}"
            ) from None
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        # First, before anything that could fail or block: the stop ends within the deadline, or the
        # kernel ends the process.
        arm_shutdown_deadline(SHUTDOWN_DEADLINE_SECONDS + SHUTDOWN_GRACE_SECONDS)
        stop.set()
        log.info("received %s; shutting down", signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    exporter.start_scheduler()
    _log_start(settings, exporter, server.port, keys)
    if ready_message:
        print(ready_message.format(port=server.port), flush=True)
    stop.wait()
    if not exporter.stop(SHUTDOWN_DEADLINE_SECONDS):
        # A sync thread is stuck in a request; the interpreter would join it at exit (ThreadPoolExecutor
        # workers are joined), so leave now: the state file is already flushed.
        log.info("stopped")
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0)
    log.info("stopped")
    return 0


def _log_start(settings: Settings, exporter: Exporter, port: int, keys: ApiKeySource) -> None:
    web = exporter.web
    log.info(
        "extend-exporter %s listening on %s (port %d, TLS %s, basic auth %s); Extend API %s version %s%s; "
        "kinds: %s; every %gs; state file: %s",
        __version__,
        settings.listen_address,
        port,
        "on" if web and web.tls else "off",
        "on" if web and web.users else "off",
        settings.api_base_url,
        settings.api_version,
        f", workspace(s) {','.join(settings.workspace_id)}" if settings.workspace_id else "",
        ",".join(exporter.kinds),
        settings.poll_interval_seconds,
        settings.state_file or "none (counts restart from zero)",
    )
    if settings.webhook_listen_address is not None:
        log.info(
            "webhooks: POST /webhooks/extend on %s (TLS %s); each verified delivery syncs its kind within "
            "about a second",
            settings.webhook_listen_address,
            "on" if settings.webhook_web_config_file else "off",
        )
    short = [s for s in keys.secrets() if not redactable(s)]
    if short:
        log.warning(
            "the API key is shorter than %d characters, so it is not masked in logs; is it the real key?",
            MIN_REDACTED_LENGTH,
        )


def _warn_both_keys(settings: Settings) -> None:
    if settings.api_key is not None and settings.api_key.get_secret_value().strip() and settings.api_key_file:
        log.warning(
            "both EXTEND_API_KEY and EXTEND_API_KEY_FILE are set; using EXTEND_API_KEY_FILE (unset one)"
        )


def _run(args: argparse.Namespace) -> int:
    settings = _settings_from(args)
    keys = _key_source(settings)
    hooks = _webhook_secrets(settings)
    redacted = (lambda: keys.secrets() + hooks.redacted()) if hooks is not None else keys.secrets
    setup_logging(settings.log_level, settings.log_format, redacted)
    if getattr(args, "api_key", None) is not None:
        log.warning(KEY_FLAG_WARNING)
    if getattr(args, "webhook_secret", None) is not None:
        log.warning(
            "--webhook-secret puts the secret where every local user can read it (ps); use "
            "EXTEND_EXPORTER_WEBHOOK_SECRET or --webhook-secret-file instead"
        )
    _warn_both_keys(settings)
    if settings.webhook_secret is not None and settings.webhook_secret_file is not None:
        log.warning(
            "both EXTEND_EXPORTER_WEBHOOK_SECRET and EXTEND_EXPORTER_WEBHOOK_SECRET_FILE are set; using "
            "EXTEND_EXPORTER_WEBHOOK_SECRET_FILE (unset one)"
        )
    return serve(settings, keys, webhook_secrets=hooks)


def _check(args: argparse.Namespace) -> int:
    from .factory import build_check_clients

    settings = _settings_from(args)
    keys = _key_source(settings)
    setup_logging("warning", settings.log_format, keys.secrets)
    if getattr(args, "api_key", None) is not None:
        print(f"extend-exporter: warning: {KEY_FLAG_WARNING}", file=sys.stderr)
    _warn_both_keys(settings)
    clients = build_check_clients(settings, keys)
    header = ("KIND", "ENDPOINT", "TIME", "RESULT")
    rows: list[tuple[str, ...]] = []
    failures: list[tuple[str, str]] = []  # (what failed, its cause): said once, below the table
    named = len(clients) > 1
    for i, (workspace_id, client) in enumerate(clients):
        # Every kind of the first workspace; the others' access takes one request each.
        kinds = settings.effective_kinds if i == 0 else settings.effective_kinds[:1]
        prefix = (workspace_id or "",) if named else ()
        for kind, path, elapsed, result, cause in _check_workspace(settings, client, kinds):
            rows.append((*prefix, kind, path, elapsed, result))
            if cause is not None:
                failures.append((" ".join((*prefix, kind)), cause))
    clients[0][1].close()
    print(f"Extend API {settings.api_base_url} (version {settings.api_version})")
    table = [("WORKSPACE", *header) if named else header, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    sys.stdout.flush()
    if failures:
        (what, cause), *more = failures
        also = f"; {len(more)} more kind(s) failed: {', '.join(w for w, _ in more)}" if more else ""
        print(f"extend-exporter check: FAILED {what}: {cause}{also}", file=sys.stderr)
        return 1
    return 0


def _check_workspace(
    settings: Settings, client: ApiClient, kinds: Sequence[str]
) -> list[tuple[str, str, str, str, str | None]]:
    """One request per kind with one workspace's client: (kind, path, time, result, cause or None).
    The result names the reason; the cause (the whole error) is said once, below the table."""
    from .api.client import ApiError, Cancelled
    from .kinds import KINDS

    out: list[tuple[str, str, str, str, str | None]] = []
    for n, kind in enumerate(kinds):
        spec = KINDS[kind]
        started = time.perf_counter()
        try:
            page = client.list_page(spec, {"maxPageSize": 1})
        except (ApiError, Cancelled) as exc:
            cause = str(exc)
            if getattr(exc, "status", None) == 401 and not settings.workspace_id:
                cause += " (an organisation-scoped key also needs EXTEND_WORKSPACE_ID / --workspace-id)"
            result = f"FAILED ({getattr(exc, 'reason', 'cancelled')})"
            out.append((kind, spec.path, _elapsed(started), result, cause))
            if isinstance(exc, ApiError) and exc.reason in ("transport_error", "unauthorized", "forbidden"):
                # The same cause fails every kind: say it once rather than wait for each.
                out.extend((k, KINDS[k].path, "", "not checked", None) for k in kinds[n + 1 :])
                break
            continue
        runs = len(page.items)
        result = f"ok ({runs} run{'s' if runs != 1 else ''} on first page)"
        out.append((kind, spec.path, _elapsed(started), result, None))
    return out


def _elapsed(started: float) -> str:
    return f"{(time.perf_counter() - started) * 1000:.0f} ms"


def _demo(args: argparse.Namespace) -> int:
    from .demo import run as run_demo

    return run_demo(args, serve)


def _healthcheck(args: argparse.Namespace) -> int:
    return check_health(args.url or default_health_url(), args.timeout)
