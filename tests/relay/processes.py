"""``membrane run`` as a child process, for tests that kill it or run two of them."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from bus.reliability.process import sample_value

METRICS_LINE = "  metrics "


class RelayProcess:
    """One ``python -m bus.cli.main run ...`` with its metrics endpoint on a free port."""

    def __init__(self, rules: Path, bootstrap: str, group_id: str, *extra: str) -> None:
        self.args = [
            sys.executable, "-m", "bus.cli.main", "run", "--rules", str(rules),
            "--bootstrap", bootstrap, "--group-id", group_id, "--metrics-addr", "127.0.0.1:0",
            "--session-timeout", "2", "--grace", "10", *extra,
        ]
        self.process: asyncio.subprocess.Process | None = None
        self.metrics_url = ""
        self.output: list[str] = []

    async def start(self, timeout: float = 60.0) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self.args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2], env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        await asyncio.wait_for(self._read_banner(), timeout)
        asyncio.get_running_loop().create_task(self._drain_output())

    async def _read_banner(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while True:
            line = (await self.process.stdout.readline()).decode()
            if not line:
                raise RuntimeError("membrane run exited early:\n" + "".join(self.output))
            self.output.append(line)
            if line.startswith(METRICS_LINE):
                self.metrics_url = line.split()[1]
                return

    async def _drain_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        async for line in self.process.stdout:
            self.output.append(line.decode())

    async def get(self, path: str) -> tuple[int, str]:
        """(status, body) of a GET on the metrics server."""
        host_port = self.metrics_url.removeprefix("http://").split("/", 1)[0]
        host, port = host_port.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        response = (await reader.read()).decode()
        writer.close()
        head, _, body = response.partition("\r\n\r\n")
        return int(head.split()[1]), body

    async def metric(self, name: str, **labels: str) -> float:
        _, body = await self.get("/metrics")
        return sample_value(body, name, labels)

    async def wait_ready(self, timeout: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (await self.get("/readyz"))[0] != 200:
            if loop.time() > deadline:
                raise TimeoutError("relay not ready:\n" + "".join(self.output))
            await asyncio.sleep(0.2)

    def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)

    async def terminate(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def close(self) -> None:
        """Make sure the child is gone (test cleanup)."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
