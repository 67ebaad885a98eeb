"""A real Prometheus server on a free loopback port, scraping an exporter every second, with exemplar
storage on (as docs/exemplars.md tells users to run it)."""

from __future__ import annotations

import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.exporter_process import ManagedProcess, free_port


class PrometheusServer(ManagedProcess):
    name = "prometheus"

    """`prometheus` with a temporary storage dir, a 1s scrape/evaluation interval and the given rule files."""

    def __init__(
        self,
        target: str | list[str],
        *,
        job: str,
        rule_files: list[Path],
        more_jobs: dict[str, list[str]] | None = None,
    ) -> None:
        binary = shutil.which("prometheus")
        assert binary, "prometheus is required (Debian package `prometheus`; .ci/run installs it)"
        self.dir = Path(tempfile.mkdtemp(prefix="extend-prometheus-test-"))
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [
                {"job_name": name, "static_configs": [{"targets": targets}]}
                for name, targets in {
                    job: [target] if isinstance(target, str) else target,
                    **(more_jobs or {}),
                }.items()
            ],
        }
        (self.dir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.port = free_port()
        super().__init__(
            [
                binary,
                f"--config.file={self.dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
                "--log.level=warn",
                "--enable-feature=exemplar-storage",
            ],
            None,
            self.dir / "prometheus.log",
            f"http://127.0.0.1:{self.port}",
        )

    def _ready(self) -> bool:
        return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200

    def api(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = response.json()
        assert body.get("status") == "success", f"{path} {params}: {body}"
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """Instant query at the server's now (or `at`); the result vector (or a scalar as one sample)."""
        data = self.api("query", query=expr, **({"time": repr(at)} if at is not None else {}))
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def stop(self, sig: int = signal.SIGTERM) -> int:
        code = super().stop(sig)
        shutil.rmtree(self.dir, ignore_errors=True)
        return code
