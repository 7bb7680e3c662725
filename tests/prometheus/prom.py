"""A real Prometheus server for tests, and the checks run against its HTTP API."""

from __future__ import annotations

import json
import math
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from bus.embedded import free_port

METRIC_NAME = re.compile(r"\b(membrane_[a-z0-9_]+)\b|\b(up)\b(?=\s*\{)")
TEMPLATE_VALUES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "${datasource}": "",
    "$instance": ".*",
    "$group": ".*",
}


def substitute(expr: str) -> str:
    """Replace Grafana's template variables the way an "All" selection would."""
    for variable, value in TEMPLATE_VALUES.items():
        expr = expr.replace(variable, value)
    return expr


def metric_names(expr: str) -> set[str]:
    return {membrane or up for membrane, up in METRIC_NAME.findall(expr)}


class Prometheus:
    """``prometheus`` on a loopback port, scraping ``targets`` every second."""

    def __init__(self, workdir: Path, targets: list[str], rule_files: list[Path]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._workdir = workdir
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [
                {"job_name": "membrane", "static_configs": [{"targets": targets}]}
            ],
        }
        self._config = workdir / "prometheus.yml"
        self._config.write_text(yaml.safe_dump(config))
        self._log = workdir / "prometheus.log"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Prometheus:
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                ["prometheus", f"--config.file={self._config}",
                 f"--web.listen-address=127.0.0.1:{self.port}",
                 f"--storage.tsdb.path={self._workdir / 'data'}"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        self._wait_ready(60.0)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def log(self) -> str:
        return self._log.read_text(errors="replace")[-4000:]

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"prometheus exited:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"prometheus not ready after {timeout}s:\n{self.log()}")

    def api(self, path: str, **params: str) -> dict[str, Any]:
        """GET /api/v1/<path>; returns the decoded body, errors included."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                body: dict[str, Any] = json.load(response)
        except urllib.error.HTTPError as error:  # 400/422 carry the PromQL error
            body = json.load(error)
        return body

    def query(self, expr: str) -> dict[str, Any]:
        return self.api("query", query=expr)

    def wait_for(self, expr: str, timeout: float) -> None:
        """Until ``expr`` returns at least one sample."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = self.query(expr)
            if body.get("status") == "success" and body["data"]["result"]:
                return
            time.sleep(0.5)
        raise AssertionError(f"{expr!r} returned nothing within {timeout}s:\n{self.log()}")

    def known_metrics(self) -> set[str]:
        body = self.api("label/__name__/values")
        return set(body["data"])

    def problems(self, expr: str, *, needs_data: bool, known: set[str]) -> list[str]:
        """Why ``expr`` (Grafana variables substituted) is not a working query."""
        query = substitute(expr)
        found = [f"unknown metric {name}" for name in sorted(metric_names(query) - known)]
        body = self.query(query)
        if body.get("status") != "success":
            return [*found, f"invalid: {body.get('error')}"]
        result = body["data"]["result"]
        if needs_data:
            values = [float(sample["value"][1]) for sample in result]
            if not any(math.isfinite(value) for value in values):
                found.append(f"no finite sample (got {len(values)} series)")
        return found
