"""Liveness: a peer that leaves or stalls never holds a gateway connection open.

The broker is the real embedded one; a stalled broker is that process
stopped with SIGSTOP (its kernel still accepts connections and takes bytes,
nothing answers), a broker that goes away is that process stopped for good.
The client is a raw socket, so the test decides exactly when it leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiokafka import AIOKafkaProducer
from kio.schema.metadata.v9 import MetadataRequest

from bus.embedded import EmbeddedBroker
from bus.gateway.codec import decode_response, encode_request
from bus.gateway.frames import read_frame
from bus.gateway.server import Gateway, parse_address
from bus.metrics import Metrics
from bus.policy import PolicyHolder, load_policy
from tests.polling import wait_until

if TYPE_CHECKING:
    from conftest import Team

pytestmark = pytest.mark.e2e

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
PATIENCE = 30.0  # seconds; generous, the machine is shared
SASL_RULES = """
version: 1
kafka:
  security_protocol: SASL_PLAINTEXT
  sasl_mechanism: PLAIN
  sasl_username: gateway
  sasl_password_env: LIVENESS_SASL_PASSWORD
agents: {alice: {}, bob: {}}
edges: [{name: a-b, from: alice, to: bob}]
"""


@contextlib.contextmanager
def stalled(broker: EmbeddedBroker) -> Iterator[None]:
    """The broker process stopped (not killed) inside the block."""
    pid = broker.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def metadata_frame(correlation_id: int) -> bytes:
    request = MetadataRequest(
        topics=(),
        allow_auto_topic_creation=False,
        include_cluster_authorized_operations=False,
        include_topic_authorized_operations=False,
    )
    header = MetadataRequest.__header_schema__(
        request_api_key=3, request_api_version=9, correlation_id=correlation_id, client_id="raw"
    )
    return encode_request(header, request)


async def connect(gateway: Gateway) -> Streams:
    return await asyncio.open_connection(*parse_address(gateway.bootstrap, "bootstrap"))


async def round_trip(client: Streams, correlation_id: int) -> None:
    reader, writer = client
    writer.write(metadata_frame(correlation_id))
    await writer.drain()
    body = await asyncio.wait_for(read_frame(reader), PATIENCE)
    assert body is not None
    assert decode_response(3, 9, body).brokers, "the broker answered through the gateway"


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def open_connections(metrics: Metrics) -> float:
    return sample(metrics, "membrane_gateway_connections")


def resources() -> tuple[int, int]:
    """(open file descriptors, asyncio tasks) of this process."""
    return len(os.listdir("/proc/self/fd")), len(asyncio.all_tasks())


@pytest.fixture
async def gateway(team: Team, fresh_kafka_broker: EmbeddedBroker) -> AsyncIterator[Gateway]:
    """alice's sidecar in front of a broker of the test's own, its per-broker
    listener already open (so resources are counted in a steady state)."""
    metrics = Metrics()
    gateway = Gateway(
        team.holder,
        upstream=fresh_kafka_broker.bootstrap,
        listen="127.0.0.1:0",
        agent="alice",
        metrics=metrics,
    )
    async with gateway:
        client = await connect(gateway)
        await round_trip(client, 1)
        client[1].close()
        await wait_until(lambda: open_connections(metrics) == 0, PATIENCE,
                         "the warm-up connection closed")
        yield gateway


@pytest.mark.parametrize("pipelined", [1, 70], ids=["one-request", "more-than-in-flight"])
async def test_a_client_leaving_while_the_broker_stalls_frees_its_connection(
    gateway: Gateway, fresh_kafka_broker: EmbeddedBroker, pipelined: int
) -> None:
    metrics = gateway.metrics
    baseline = resources()
    client = await connect(gateway)
    await round_trip(client, 1)
    with stalled(fresh_kafka_broker):
        forwarded = sample(
            metrics, "membrane_gateway_requests_total", api="metadata", outcome="forwarded"
        )
        for correlation_id in range(2, 2 + pipelined):
            client[1].write(metadata_frame(correlation_id))
        await client[1].drain()
        # One answer is awaited from the broker, 64 wait in line, the next waits for room.
        taken = min(pipelined, 66)
        await wait_until(
            lambda: sample(
                metrics, "membrane_gateway_requests_total", api="metadata", outcome="forwarded"
            )
            >= forwarded + taken,
            PATIENCE,
            f"the gateway forwarded {taken} requests",
        )
        client[1].close()
        await wait_until(
            lambda: open_connections(metrics) == 0,
            PATIENCE,
            "the gateway closed the connection of a client that left, though the broker "
            "never answered",
        )
        await wait_until(lambda: resources() == baseline, PATIENCE,
                         f"{resources()} back to {baseline}")


async def test_a_broker_going_away_closes_idle_client_connections_and_clients_recover(
    gateway: Gateway, fresh_kafka_broker: EmbeddedBroker, team: Team
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=gateway.bootstrap, request_timeout_ms=10000)
    await producer.start()
    try:
        await producer.send_and_wait(
            team.inbox("bob"), b"before", headers=[("membrane-kind", b"task")]
        )
        idle = await connect(gateway)
        await round_trip(idle, 1)
        await fresh_kafka_broker.stop()
        # The idle client sends nothing; the gateway tells it by closing.
        assert await asyncio.wait_for(idle[0].read(), PATIENCE) == b""
        idle[1].close()
        await fresh_kafka_broker.start()
        sent = await asyncio.wait_for(
            producer.send_and_wait(
                team.inbox("bob"), b"after", headers=[("membrane-kind", b"task")]
            ),
            PATIENCE,
        )
        assert sent.offset >= 0
    finally:
        await producer.stop()


async def test_a_broker_that_accepts_but_never_answers_sasl_drops_the_client(
    tmp_path: Path,
    fresh_kafka_broker: EmbeddedBroker,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("LIVENESS_SASL_PASSWORD", "liveness-sasl-pw-3b9e")
    rules = tmp_path / "rules.yaml"
    rules.write_text(SASL_RULES)
    holder = PolicyHolder(load_policy(rules))
    gateway = Gateway(
        holder, upstream=fresh_kafka_broker.bootstrap, listen="127.0.0.1:0", agent="alice"
    )
    gateway.connector.timeout = 1.0
    caplog.set_level(logging.WARNING, logger="bus.gateway.server")
    async with gateway:
        with stalled(fresh_kafka_broker):
            reader, writer = await connect(gateway)
            writer.write(metadata_frame(1))
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), PATIENCE) == b""
            writer.close()
    assert "did not complete SASL within 1s" in caplog.text
