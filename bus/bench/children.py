"""Child processes of a benchmark run: started, awaited until ready, measured, stopped.

Each relay or gateway under test is a process of its own, so its CPU time
and peak memory are its own (``bus.bench.procstat``). A child is ready when
it prints ``ready`` (the relays, once they are members of their consumer
group) or, for a gateway, when its port accepts connections. Its stderr
goes to a log file whose tail is quoted if it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from pathlib import Path

from bus.bench.procstat import cpu_seconds, peak_rss_bytes
from bus.errors import MembraneError

READY_LINE = b"ready"
STOP_TIMEOUT = 15.0


class ChildFailed(MembraneError):
    """A benchmark child exited or never became ready."""


class ChildSpec:
    """How to start one child: its command line and how to tell it is ready."""

    __slots__ = ("argv", "metrics_port", "name", "ready_port")

    def __init__(self, name: str, argv: Sequence[str], *, ready_port: int | None = None,
                 metrics_port: int | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.ready_port = ready_port  # None: wait for the line ``ready`` on stdout
        self.metrics_port = metrics_port  # where the child serves /metrics, if it does


class Child:
    __slots__ = ("_log", "process", "spec")

    def __init__(self, spec: ChildSpec, process: asyncio.subprocess.Process, log: Path) -> None:
        self.spec = spec
        self.process = process
        self._log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def peak_rss_bytes(self) -> int:
        return peak_rss_bytes(self.pid)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def failure(self, what: str) -> ChildFailed:
        return ChildFailed(f"{self.spec.name} {what}; its log ends with:\n{self.log_tail()}")


async def start(spec: ChildSpec, workdir: Path, timeout: float) -> Child:
    """Start ``spec`` and wait until it is ready; raises ``ChildFailed``."""
    log = workdir / f"{spec.name}-{time.monotonic_ns()}.log"
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            *spec.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
    child = Child(spec, process, log)
    try:
        await asyncio.wait_for(_ready(child), timeout)
    except TimeoutError:
        await stop([child])
        raise child.failure(f"was not ready within {timeout:.0f}s") from None
    except ChildFailed:
        await stop([child])
        raise
    return child


async def _ready(child: Child) -> None:
    port = child.spec.ready_port
    stdout = child.process.stdout
    assert stdout is not None
    while True:
        if port is not None:
            if child.process.returncode is not None:
                raise child.failure(f"exited with status {child.process.returncode}")
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                return
            await asyncio.sleep(0.05)
            continue
        line = await stdout.readline()
        if not line:
            await child.process.wait()
            raise child.failure(f"exited with status {child.process.returncode}")
        if line.strip() == READY_LINE:
            return


async def stop(children: Sequence[Child]) -> None:
    """SIGTERM, then SIGKILL after ``STOP_TIMEOUT`` seconds."""
    for child in children:
        if child.process.returncode is None:
            child.process.terminate()
    for child in children:
        try:
            await asyncio.wait_for(child.process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            child.process.kill()
            await child.process.wait()
