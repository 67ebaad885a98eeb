"""A canary API key never leaves the process: not in logs (debug included), /metrics, /readyz, `check`
output, exception text, or the state file, through faults, a revoked key and a key-file rotation; nor
does the webhook signing secret."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import httpx

from extend_simulator import Fault, SimConfig, Simulator
from extend_simulator.config import WebhookConfig, WebhookFaults
from extend_simulator.webhooks import sign
from tests.exporter_process import ExporterProcess, free_port, start_exporter, wait_until
from tests.test_cli import run_cli

CANARY = "sk_live_CANARY_7f3a9c1e5b2d4f60"
CANARY_ROTATED = "sk_live_CANARY_ROTATED_0e8d6c4a"


def readyz_is(proc: ExporterProcess, code: int) -> bool:
    return proc.get("/readyz").status_code == code


def test_canary_key_never_leaks(tmp_path: Path) -> None:
    keys = {CANARY: {"org_scoped": False}, CANARY_ROTATED: {"org_scoped": False}}
    sim = Simulator(SimConfig(seed=51, history=300, qps_limit=None, keys=keys, api_key=CANARY))
    sim.start(host="127.0.0.1", port=0)
    key_file = tmp_path / "api-key"
    key_file.write_text(CANARY + "\n")
    state = tmp_path / "state.json"
    state.write_bytes(b"{corrupt")  # a warning path too
    outputs: list[str] = []
    try:
        for fmt in ("text", "json"):
            proc = start_exporter(
                sim.url,
                "unused",
                kinds="workflow_run,extract_run",
                poll_interval=0.2,
                state_file=str(state),
                extra_env={
                    "EXTEND_API_KEY": "",
                    "EXTEND_API_KEY_FILE": str(key_file),
                    "EXTEND_EXPORTER_LOG_LEVEL": "debug",
                    "EXTEND_EXPORTER_LOG_FORMAT": fmt,
                    "EXTEND_EXPORTER_MAX_RETRIES": "1",
                },
            )
            with proc:
                wait_until(partial(readyz_is, proc, 200), timeout=30, message="ready")
                sim.set_faults(
                    Fault("http_500", times=2), Fault("reset", times=1), Fault("malformed_json", times=1)
                )
                sim.advance(30)
                wait_until(lambda: not [f for f in sim.faults.list() if f.fired < (f.times or 0)], timeout=20)
                sim.revoke_key(CANARY)  # 401s: errors logged at ERROR
                wait_until(partial(readyz_is, proc, 503), timeout=20, message="503")
                key_file.write_text(CANARY_ROTATED)  # rotation: the new key works
                wait_until(partial(readyz_is, proc, 200), timeout=20, message="rotated")
                sim.restore_key(CANARY)
                key_file.write_text(CANARY)
                sim.advance(30)
                for path in ("/metrics", "/readyz", "/", "/healthz", "/nope"):
                    outputs.append(proc.get(path).text)
                gz = httpx.get(f"{proc.url}/metrics", headers={"Accept-Encoding": "gzip"}, timeout=5)
                outputs.append(gz.text)
                outputs.append(proc.logs())
            assert "API key file" in proc.logs() and "changed" in proc.logs()
            outputs.append(proc.logs())  # including the shutdown
        outputs.append(state.read_text(errors="replace"))
        for key in (CANARY, "sk_wrong_" + CANARY):
            check = run_cli(
                "check",
                env={
                    "EXTEND_API_KEY": key,
                    "EXTEND_API_BASE_URL": sim.url,
                    "EXTEND_EXPORTER_KINDS": "extract_run",
                },
            )
            outputs += [check.stdout, check.stderr]
        sim.revoke_key(CANARY)
        revoked = run_cli("check", env={"EXTEND_API_KEY": CANARY, "EXTEND_API_BASE_URL": sim.url})
        assert revoked.returncode == 1 and "unauthorized" in revoked.stdout
        outputs += [revoked.stdout, revoked.stderr]
    finally:
        sim.stop()
    blob = "\n".join(outputs)
    assert "DEBUG" in blob or '"level": "debug"' in blob, "debug logging was not on: the test proves little"
    for secret in (CANARY, CANARY_ROTATED, "CANARY_7f3a9c1e"):
        assert secret not in blob, f"{secret} leaked"


def test_api_key_flag_warns_that_argv_is_readable(tmp_path: Path) -> None:
    sim = Simulator(SimConfig(seed=52, history=50, qps_limit=None))
    sim.start(host="127.0.0.1", port=0)
    try:
        result = run_cli(
            "check",
            "--api-key",
            sim.api_key,
            env={"EXTEND_API_BASE_URL": sim.url, "EXTEND_EXPORTER_KINDS": "extract_run"},
        )
    finally:
        sim.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "--api-key puts the key where every local user can read it" in result.stderr
    assert sim.api_key not in result.stderr + result.stdout


def test_credentials_in_the_base_url_are_refused_without_echoing_them() -> None:
    result = run_cli(
        env={"EXTEND_API_KEY": CANARY, "EXTEND_API_BASE_URL": "https://bob:hunter2secret@api.extend.ai"}
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "EXTEND_API_BASE_URL" in lines[0] and "credentials" in lines[0]
    assert "hunter2secret" not in result.stderr + result.stdout and CANARY not in result.stderr


WEBHOOK_CANARY = "wss_CANARY_webhook_3b8e1f6a9c"
WEBHOOK_ROTATED = "wss_CANARY_rotated_5d2c7a0e41"


def test_webhook_secret_never_leaks(tmp_path: Path) -> None:
    """The signing secret stays out of logs (debug), /metrics and answers: through deliveries signed
    with it and with a wrong one, requests that carry it as their signature or in their body, an
    accepted event naming it, and a rotation of the secret file."""
    sim = Simulator(SimConfig(seed=52, history=200, qps_limit=None))
    sim.start(host="127.0.0.1", port=0)
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text(WEBHOOK_CANARY + "\n")
    hook = f"127.0.0.1:{free_port()}"
    url = f"http://{hook}/webhooks/extend"
    outputs: list[str] = []
    env = {
        "EXTEND_EXPORTER_LOG_LEVEL": "debug",
        "EXTEND_EXPORTER_WEBHOOK_LISTEN_ADDRESS": hook,
        "EXTEND_EXPORTER_WEBHOOK_SECRET_FILE": str(secret_file),
    }
    try:
        with start_exporter(
            sim.url, sim.api_key, kinds="extract_run", poll_interval=60, extra_env=env
        ) as proc:
            wait_until(partial(readyz_is, proc, 200), timeout=30, message="ready")
            sim.deliver_webhooks(
                WebhookConfig(url, WEBHOOK_CANARY, faults=WebhookFaults(bad_signature=0.5), retry_seconds=0.1)
            )
            sim.advance(120)
            wait_until(lambda: sim.webhooks is not None and sim.webhooks.stats()["pending"] == 0, timeout=20)
            ts = str(int(time.time()))
            body = (
                f'{{"eventId":"evt_{WEBHOOK_CANARY}","eventType":"{WEBHOOK_CANARY}","payload":{{}}}}'.encode()
            )
            answers = [
                httpx.post(url, content=body, headers={"x-extend-request-signature": WEBHOOK_CANARY}),
                httpx.post(
                    url,
                    content=body,
                    headers={
                        "x-extend-request-timestamp": ts,
                        "x-extend-request-signature": sign(WEBHOOK_CANARY, ts, body),
                    },
                ),
            ]
            assert [a.status_code for a in answers] == [401, 200]
            outputs += [a.text for a in answers]
            secret_file.write_text(f"{WEBHOOK_ROTATED},{WEBHOOK_CANARY}\n")
            sim.deliver_webhooks(WebhookConfig(url, WEBHOOK_ROTATED))
            sim.advance(60)
            wait_until(lambda: sim.webhooks is not None and sim.webhooks.stats()["pending"] == 0, timeout=20)
            assert sim.webhooks is not None and set(sim.webhooks.stats()["answers"]) == {"200"}
            for path in ("/metrics", "/readyz", "/"):
                outputs.append(proc.get(path).text)
        outputs.append(proc.logs())
    finally:
        sim.stop()
    assert "webhook secret file" in outputs[-1] and "changed" in outputs[-1]
    assert "bad_signature" in outputs[-1]  # refusals were logged
    for text in outputs:
        assert WEBHOOK_CANARY not in text and WEBHOOK_ROTATED not in text
