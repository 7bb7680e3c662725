"""Throttling: damping filters hold produce requests and set throttle_time_ms."""

from __future__ import annotations

import asyncio
import datetime
import io
import struct
from typing import TYPE_CHECKING, Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from kio.schema.produce.v9.request import PartitionProduceData, ProduceRequest, TopicProduceData
from kio.schema.produce.v9.response import ProduceResponse
from kio.schema.request_header.v2.header import RequestHeader
from kio.serial import entity_reader, entity_writer

from bus.clock import FakeClock
from bus.gateway.server import Gateway
from bus.metrics import Metrics

if TYPE_CHECKING:
    from conftest import GatewayFactory, Team

pytestmark = pytest.mark.e2e


RATE_FILTER = """
filters:
  - filter: rate
    rate: 0.5
    burst: 1
    max_delay: 30
    attach: {edges: ["alice->bob"]}
"""


@pytest.fixture
def rules_extra() -> str:
    return RATE_FILTER


def one_record_batch(kind: bytes) -> bytes:
    builder = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, -1, 2**31 - 1)
    builder.append(0, 1_700_000_000_000, None, b"work", [("membrane-kind", kind)])
    return bytes(builder.build())


async def raw_produce(gateway: Gateway, topic: str, correlation_id: int) -> Any:
    """One Produce v9 request over a plain socket; the decoded response."""
    reader, writer = await asyncio.open_connection(*gateway.bootstrap.rsplit(":", 1))
    try:
        buffer = io.BytesIO()
        entity_writer(RequestHeader)(
            buffer,
            RequestHeader(
                request_api_key=0,
                request_api_version=9,
                correlation_id=correlation_id,
                client_id="raw",
            ),
        )
        request = ProduceRequest(
            transactional_id=None,
            acks=1,
            timeout=datetime.timedelta(seconds=10),
            topic_data=(
                TopicProduceData(
                    name=topic,
                    partition_data=(
                        PartitionProduceData(index=0, records=one_record_batch(b"task")),
                    ),
                ),
            ),
        )
        entity_writer(ProduceRequest)(buffer, request)
        body = buffer.getvalue()
        writer.write(struct.pack(">i", len(body)) + body)
        await writer.drain()
        (size,) = struct.unpack(">i", await reader.readexactly(4))
        answer = await reader.readexactly(size)
        assert struct.unpack(">i", answer[:4])[0] == correlation_id
        response, _ = entity_reader(ProduceResponse)(answer, 5)  # int32 id + empty tag buffer
        return response
    finally:
        writer.close()
        await writer.wait_closed()


async def test_a_delay_verdict_holds_the_request_and_reports_throttle_time(team: Team) -> None:
    """With a frozen filter clock the rate filter asks for exactly one interval (2 s);
    the gateway holds at most 50 ms and asks the client to back off for the rest."""
    metrics = Metrics()
    gateway = Gateway(
        team.holder,
        upstream=team.broker.bootstrap,
        listen="127.0.0.1:0",
        agent="alice",
        metrics=metrics,
        clock=FakeClock(),
        max_hold=0.05,
    )
    async with gateway:
        first = await raw_produce(gateway, team.inbox("bob"), 1)
        second = await raw_produce(gateway, team.inbox("bob"), 2)
    assert first.responses[0].partition_responses[0].error_code == 0
    assert first.throttle_time == datetime.timedelta(0)
    assert second.responses[0].partition_responses[0].error_code == 0
    assert second.throttle_time == datetime.timedelta(seconds=2)
    assert metrics.gateway_throttle_seconds._value.get() == pytest.approx(0.05)
    delays = metrics.filter_verdicts.labels("rate", "delay", "enforce")._value.get()
    assert delays == 1


async def test_throttled_aiokafka_producer_delivers_everything_in_order(
    team: Team, sidecar: GatewayFactory
) -> None:
    """The real rate (0.5/s, burst 1) holds each message after the first; bounded holds
    keep the client within its timeouts and every message arrives, in order."""
    alice, bob = await sidecar("alice"), await sidecar("bob")
    alice.state.damper.max_hold = 0.2  # type: ignore[union-attr]
    producer = AIOKafkaProducer(bootstrap_servers=alice.bootstrap)
    await producer.start()
    try:
        for i in range(4):
            await producer.send_and_wait(
                team.inbox("bob"),
                f"m{i}".encode(),
                partition=0,
                headers=[("membrane-kind", b"task")],
            )
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bob.bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tp = TopicPartition(team.inbox("bob"), 0)
        consumer.assign([tp])
        values: list[bytes] = []
        async with asyncio.timeout(30):
            while len(values) < 4:
                batch = await consumer.getmany(tp, timeout_ms=500)
                values.extend(r.value for r in batch.get(tp, []))
    finally:
        await consumer.stop()
    assert values == [b"m0", b"m1", b"m2", b"m3"]
    metrics = team.metrics["alice"]
    assert metrics.gateway_throttle_seconds._value.get() > 0
    assert metrics.filter_verdicts.labels("rate", "delay", "enforce")._value.get() >= 3
