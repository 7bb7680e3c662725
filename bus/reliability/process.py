"""``membrane run`` as a child process that fault tests can kill, stop and measure.

Output goes to one log file across restarts (appended), so a test can show
everything the relay said. The metrics endpoint is on a free loopback port
picked per start. ``cpu_seconds`` and ``rss_bytes`` read /proc (Linux).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from prometheus_client.parser import text_string_to_metric_families

from bus.bench.procstat import cpu_seconds, peak_rss_bytes
from bus.embedded import free_port


class RelayProcess:
    """One ``membrane run`` at a time; ``start`` again after ``kill`` or ``terminate``."""

    def __init__(
        self,
        rules: Sequence[Path],
        bootstrap: str,
        *,
        log: Path,
        group_id: str = "membrane",
        grace: float = 10.0,
        log_level: str = "info",
        env: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.rules = list(rules)
        self.bootstrap = bootstrap
        self.log = log
        self.group_id = group_id
        self.grace = grace
        self.log_level = log_level
        self.env = dict(env) if env is not None else None
        self.extra_args = list(extra_args)
        self.address = ""
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the relay is not running")
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def command(self) -> list[str]:
        args = [sys.executable, "-m", "bus.cli.main", "run", "--bootstrap", self.bootstrap,
                "--group-id", self.group_id, "--metrics-addr", self.address,
                "--grace", str(self.grace), "--log-level", self.log_level]
        for path in self.rules:
            args += ["--rules", str(path)]
        return args + self.extra_args

    def start(self) -> None:
        if self.alive:
            raise RuntimeError("the relay is already running")
        self.address = f"127.0.0.1:{free_port()}"
        env = None if self.env is None else {**os.environ, **self.env}
        with self.log.open("ab") as out:
            out.write(f"--- start {self.starts + 1}\n".encode())
            out.flush()
            self._process = subprocess.Popen(self.command(), stdout=out,
                                             stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, env=env)
        self.starts += 1

    def ready(self) -> bool:
        return self.probe("/readyz") == 200

    def probe(self, path: str) -> int | None:
        """HTTP status of ``path`` on the metrics endpoint, None if it does not answer."""
        try:
            with urllib.request.urlopen(f"http://{self.address}{path}", timeout=2) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (urllib.error.URLError, OSError):
            return None

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                raise RuntimeError(f"membrane run exited with {self.returncode}:\n"
                                   f"{self.log_text()[-4000:]}")
            if self.ready():
                return
            time.sleep(0.2)
        raise TimeoutError(f"membrane run not ready after {timeout}s:\n"
                           f"{self.log_text()[-4000:]}")

    async def wait_ready_async(self, timeout: float = 90.0) -> None:
        await asyncio.to_thread(self.wait_ready, timeout)

    def send_signal(self, sig: int) -> None:
        """Deliver ``sig`` (e.g. SIGHUP: reload the rules) to the running relay."""
        if self._process is None or self._process.poll() is not None:
            raise RuntimeError("the relay is not running")
        self._process.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no drain, no commit, no goodbye."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()

    def terminate(self, timeout: float) -> int:
        """SIGTERM and wait up to ``timeout`` seconds; the exit code (SIGKILL after that)."""
        process = self._process
        if process is None:
            raise RuntimeError("the relay was never started")
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise
        return int(process.returncode)

    async def terminate_async(self, timeout: float) -> int:
        return await asyncio.to_thread(self.terminate, timeout)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def rss_bytes(self) -> int:
        """Resident memory now (VmRSS)."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def peak_rss_bytes(self) -> int:
        return peak_rss_bytes(self.pid)

    def scrape(self) -> str:
        with urllib.request.urlopen(f"http://{self.address}/metrics", timeout=5) as response:
            return bytes(response.read()).decode()

    def sample(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """One sample's value from /metrics (0.0 when absent)."""
        return sample_value(self.scrape(), name, labels)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> RelayProcess:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.kill()


def sample_value(text: str, name: str, labels: Mapping[str, str] | None = None) -> float:
    """The value of sample ``name`` with ``labels`` in a Prometheus text exposition."""
    wanted = dict(labels or {})
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v
                                           for k, v in wanted.items()):
                return float(sample.value)
    return 0.0
