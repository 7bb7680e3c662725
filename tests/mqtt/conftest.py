"""Fixtures of the MQTT tests: a real Mosquitto broker on a free loopback port.

Each broker writes its own config into the test's temporary directory and
owns the one process it starts; teardown ends only that process.
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bus.embedded import free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"

# Generous per-client queues: tests publish thousands of QoS 1 messages while
# the bridge is away, and Mosquitto's default (1,000) would drop the rest.
# ``user``: started as root, Mosquitto would drop to the ``mosquitto`` user,
# which cannot read the test's private temporary directory.
BASE_CONFIG = """\
listener {port} 127.0.0.1
user {user}
persistence false
max_queued_messages 200000
max_inflight_messages 100
log_dest file {log}
log_type error
log_type warning
log_type notice
"""


class MosquittoBroker:
    """``mosquitto -c <generated config>``; ``extra`` lines are appended to the config."""

    def __init__(self, directory: Path, *, extra: str = "", anonymous: bool = True) -> None:
        self.directory = directory
        self.host = "127.0.0.1"
        self.port = free_port()
        self.log = directory / "mosquitto.log"
        self.config = directory / "mosquitto.conf"
        body = BASE_CONFIG.format(port=self.port, log=self.log, user=getpass.getuser())
        if anonymous:
            body += "allow_anonymous true\n"
        self.config.write_text(body + extra)
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        self._process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode() if self._process.stderr else ""
                raise RuntimeError(f"mosquitto exited: {err}{self.log_text()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {timeout}s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr is not None:
            process.stderr.close()

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


StartMosquitto = Callable[..., MosquittoBroker]


@pytest.fixture
def start_mosquitto(tmp_path: Path) -> Iterator[StartMosquitto]:
    """Starts brokers with extra config lines; every one is stopped after the test."""
    started: list[MosquittoBroker] = []

    def start(*, extra: str = "", anonymous: bool = True) -> MosquittoBroker:
        directory = tmp_path / f"mosquitto-{len(started)}"
        directory.mkdir()
        broker = MosquittoBroker(directory, extra=extra, anonymous=anonymous)
        started.append(broker)
        broker.start()
        return broker

    try:
        yield start
    finally:
        for broker in started:
            broker.stop()


@pytest.fixture
def mosquitto(start_mosquitto: StartMosquitto) -> MosquittoBroker:
    """Mosquitto with anonymous access, stopped after the test."""
    return start_mosquitto()
