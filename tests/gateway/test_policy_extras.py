"""Sensors fed by the gateway, policy reloads, and topic ids the gateway has not learned."""

from __future__ import annotations

import asyncio
import datetime
import struct
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import TopicAuthorizationFailedError
from kio.schema.errors import ErrorCode
from kio.schema.fetch.v13 import FetchRequest
from kio.schema.fetch.v13.request import FetchPartition, FetchTopic

from bus.clock import FakeClock
from bus.gateway.codec import decode_response, encode_request
from bus.gateway.server import Gateway
from bus.policy import load_policy
from bus.sensors import SensorHub

if TYPE_CHECKING:
    from conftest import GatewayFactory, Team

pytestmark = pytest.mark.e2e


async def send_tasks(gateway: Gateway, topic: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=gateway.bootstrap, request_timeout_ms=5000)
    await producer.start()
    try:
        for i in range(count):
            await producer.send_and_wait(
                topic,
                f"t{i}".encode(),
                partition=0,
                headers=[("membrane-kind", b"task"), ("membrane-stance", b"yes")],
            )
    finally:
        await producer.stop()


async def test_the_sensors_observe_what_the_gateway_forwards(team: Team) -> None:
    clock = FakeClock()
    hub = SensorHub(team.holder.current.rules.sensors, clock)
    async with Gateway(
        team.holder,
        upstream=team.broker.bootstrap,
        listen="127.0.0.1:0",
        agent="alice",
        clock=clock,
        sensors=hub,
    ) as gateway:
        await send_tasks(gateway, team.inbox("bob"), 3)
    assert hub.value("team", "mean_fanout") == 1.0
    assert hub.majority_stance("team") == "yes"


async def test_a_reloaded_policy_applies_to_the_next_request(
    team: Team, sidecar: GatewayFactory, tmp_path: Path
) -> None:
    alice = await sidecar("alice")
    await send_tasks(alice, team.inbox("bob"), 1)
    isolated = tmp_path / "isolated.yaml"
    isolated.write_text(
        f'version: 1\ntopics: {{inbox: "{team.prefix}.{{agent}}.inbox"}}\n'
        "agents: {alice: {}, bob: {}}\n"
    )
    team.holder.replace(load_policy(isolated))
    with pytest.raises(TopicAuthorizationFailedError):
        await send_tasks(alice, team.inbox("bob"), 1)


async def test_an_unknown_topic_id_asks_the_client_to_refresh(
    team: Team, sidecar: GatewayFactory
) -> None:
    alice = await sidecar("alice")
    unknown = uuid.uuid4()
    request = FetchRequest(
        max_wait=datetime.timedelta(milliseconds=10),
        min_bytes=1,
        topics=(
            FetchTopic(
                topic_id=unknown,
                partitions=(FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=1024),),
            ),
        ),
        forgotten_topics_data=(),
    )
    kind = FetchRequest.__header_schema__
    head = kind(request_api_key=1, request_api_version=13, correlation_id=7, client_id="raw")
    host, port = alice.bootstrap.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(encode_request(head, request))
        await writer.drain()
        async with asyncio.timeout(30):
            (size,) = struct.unpack(">i", await reader.readexactly(4))
            answer = decode_response(1, 13, await reader.readexactly(size))
    finally:
        writer.close()
        await writer.wait_closed()
    [topic] = answer.responses
    assert topic.topic_id == unknown
    assert [p.error_code for p in topic.partitions] == [ErrorCode.unknown_topic_id]
