"""The real relay (``membrane run``) as a child process, and the scenario's agents on Kafka.

The agents are plain aiokafka producers writing to their outbox topics with
``membrane-stance``, ``membrane-to`` and ``membrane-hops`` headers, exactly
as an agent would; the relay decides, forwards, delays and quarantines, and
serves /metrics, /healthz and /readyz.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiokafka import AIOKafkaProducer

from bus import headers as h
from bus.embedded import free_port

from .scenario import Message, Step


@contextmanager
def relay_process(rules: Path, bootstrap: str, workdir: Path) -> Iterator[str]:
    """``membrane run`` on a free metrics port; yields ``host:port`` once ready."""
    address = f"127.0.0.1:{free_port()}"
    log_path = workdir / "relay.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bus.cli.main", "run", "--rules", str(rules),
             "--bootstrap", bootstrap, "--group-id", f"membrane-{workdir.name}",
             "--metrics-addr", address, "--grace", "5"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        _wait_ready(process, f"http://{address}/readyz", log_path, timeout=90.0)
        yield address
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"membrane run exited {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"membrane run not ready after {timeout}s:\n{log.read_text()}")


def _headers(message: Message) -> list[tuple[str, bytes]]:
    out = [(h.HOPS, str(message.hops).encode())]
    if message.stance is not None:
        out.append((h.STANCE, message.stance.encode()))
    if message.to is not None:
        out.append((h.TO, h.RECIPIENT_SEPARATOR.join(message.to).encode()))
    return out


async def _play(bootstrap: str, prefix: str, script: list[Step]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:
        for step in script:
            if isinstance(step, Message):
                await producer.send_and_wait(
                    f"{prefix}.{step.sender}.outbox", b'{"text": "..."}',
                    headers=_headers(step),
                )
            else:
                await asyncio.sleep(step)
    finally:
        await producer.stop()


def play_on_kafka(bootstrap: str, prefix: str, script: list[Step]) -> None:
    """Send the script's messages as the agents would (blocks until done)."""
    asyncio.run(_play(bootstrap, prefix, script))
