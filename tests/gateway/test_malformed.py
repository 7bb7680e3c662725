"""Malformed frames close only their own connection, with the reason logged.

The gateway runs as a process (``membrane gateway``), so a frame that would
take the whole process down shows up as a dead process, not a dead test run.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiokafka import AIOKafkaProducer

from bus.embedded import free_port

if TYPE_CHECKING:
    from conftest import Team

pytestmark = pytest.mark.e2e

PATIENCE = 30.0
# Produce v9 (flexible) request header, client id "raw", then the body up to topic_data.
PRODUCE_V9_UP_TO_TOPICS = bytes.fromhex("000000090000000100037261770000000100001388")


def uvarint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def frame(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


MALFORMED = {
    # topic_data claims 2**32 - 1 topics: kio's native reader reserved ~34 GB for them.
    "huge-array": frame(PRODUCE_V9_UP_TO_TOPICS + uvarint(2**32)),
    # one topic whose partition_data is null (compact length 0), which no schema allows.
    "null-array": frame(PRODUCE_V9_UP_TO_TOPICS + uvarint(2) + uvarint(2) + b"t" + uvarint(0)),
    # a frame of 100 bytes cut after 10 by the client leaving.
    "truncated": (100).to_bytes(4, "big") + bytes(10),
}


async def send_and_expect_close(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        if data is MALFORMED["truncated"]:
            writer.write_eof()
        return await asyncio.wait_for(reader.read(), PATIENCE)
    finally:
        writer.close()


async def listening(port: int, process: subprocess.Popen[str]) -> None:
    deadline = asyncio.get_running_loop().time() + PATIENCE
    while True:
        assert process.poll() is None, process.communicate()
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            assert asyncio.get_running_loop().time() < deadline, "the gateway never listened"
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return


async def test_malformed_frames_close_their_connection_and_the_gateway_serves_on(
    team: Team, tmp_path: Path
) -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bus.cli.main",
            "gateway",
            "--rules",
            str(tmp_path / "rules.yaml"),  # the team fixture wrote the topology here
            "--upstream",
            team.broker.bootstrap,
            "--listen",
            f"127.0.0.1:{port}",
            "--agent",
            "alice",
            "--metrics-addr",
            f"127.0.0.1:{free_port()}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        await listening(port, process)
        producer = AIOKafkaProducer(bootstrap_servers=f"127.0.0.1:{port}")
        await asyncio.wait_for(producer.start(), PATIENCE)
        try:
            for name, data in MALFORMED.items():
                assert await send_and_expect_close(port, data) == b"", name
                assert process.poll() is None, f"the gateway died of {name}"
                sent = await producer.send_and_wait(
                    team.inbox("bob"), name.encode(), headers=[("membrane-kind", b"task")]
                )
                assert sent.offset >= 0
        finally:
            await producer.stop()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, log = process.communicate(timeout=PATIENCE)
        except subprocess.TimeoutExpired:
            process.kill()
            _, log = process.communicate()
    assert "claims 4294967295 entries" in log
    assert "partition_data is null" in log
    assert "truncated-frame" in log or "inside a 100-byte frame" in log
