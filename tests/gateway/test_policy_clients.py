"""Policy through the gateway with librdkafka (confluent-kafka) and kafka-python.

librdkafka consumes with assign() (its group joins hang on the embedded
broker). kafka-python here has only the gzip codec; librdkafka covers the
others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import confluent_kafka
import kafka
import kafka.errors
import pytest

from bus.gateway.server import Gateway

if TYPE_CHECKING:
    from conftest import GatewayFactory, Team

pytestmark = pytest.mark.e2e

Headers = list[tuple[str, bytes]]
Delivery = tuple[str | None, bytes, int]


def rdkafka_produce(
    gateway: Gateway, topic: str, messages: list[tuple[bytes, Headers]], **config: Any
) -> list[Delivery]:
    """Produce in order, flushing after each message; (error, value, offset) per message."""
    producer = confluent_kafka.Producer({"bootstrap.servers": gateway.bootstrap, **config})
    results: list[Delivery] = []

    def delivered(err: Any, msg: Any) -> None:
        results.append((err.name() if err else None, msg.value(), msg.offset()))

    for value, headers in messages:
        producer.produce(topic, value, partition=0, headers=headers, on_delivery=delivered)
        producer.flush(30)
    return results


def rdkafka_consume(gateway: Gateway, topic: str, count: int) -> list[tuple[bytes, Headers]]:
    consumer = confluent_kafka.Consumer(
        {"bootstrap.servers": gateway.bootstrap, "group.id": "unused", "enable.auto.commit": False}
    )
    try:
        consumer.assign([confluent_kafka.TopicPartition(topic, 0, 0)])
        seen: list[tuple[bytes, Headers]] = []
        deadline = time.monotonic() + 30
        while len(seen) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            seen.append((msg.value(), list(msg.headers() or [])))
        return seen
    finally:
        consumer.close()


def kafka_python_consume(gateway: Gateway, topic: str, count: int) -> tuple[list[bytes], int]:
    consumer = kafka.KafkaConsumer(
        bootstrap_servers=gateway.bootstrap, auto_offset_reset="earliest"
    )
    try:
        tp = kafka.TopicPartition(topic, 0)
        consumer.assign([tp])
        seen: list[bytes] = []
        deadline = time.monotonic() + 30
        while len(seen) < count and time.monotonic() < deadline:
            for records in consumer.poll(500).values():
                seen.extend(r.value for r in records)
        return seen, consumer.position(tp)
    finally:
        consumer.close()


async def in_thread(work: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(work)


def header(headers: Headers, name: str) -> list[bytes]:
    return [v for k, v in headers if k == name]


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
async def test_rdkafka_idempotent_producer_is_stamped_with_every_codec(
    team: Team, sidecar: GatewayFactory, codec: str
) -> None:
    alice, bob = await sidecar("alice"), await sidecar("bob")
    forged: Headers = [("membrane-kind", b"task"), ("membrane-from", b"mallory")]
    messages = [(f"task {i}".encode(), forged) for i in range(5)]
    config = {"enable.idempotence": True, "compression.type": codec}
    results = await in_thread(lambda: rdkafka_produce(alice, team.inbox("bob"), messages, **config))
    assert [(err, offset) for err, _, offset in results] == [(None, i) for i in range(5)]

    seen = await in_thread(lambda: rdkafka_consume(bob, team.inbox("bob"), 5))
    assert [v for v, _ in seen] == [v for v, _ in messages]
    assert all(header(h, "membrane-from") == [b"alice"] for _, h in seen)


async def test_rdkafka_refusals_topic_and_record(team: Team, sidecar: GatewayFactory) -> None:
    alice, bob = await sidecar("alice"), await sidecar("bob")
    task: Headers = [("membrane-kind", b"task")]
    to_carol = await in_thread(lambda: rdkafka_produce(alice, team.inbox("carol"), [(b"x", task)]))
    assert [err for err, _, _ in to_carol] == ["TOPIC_AUTHORIZATION_FAILED"]

    messages = [(b"ok", task), (b"gossip", [("membrane-kind", b"gossip")])]
    config = {"enable.idempotence": True}
    results = await in_thread(lambda: rdkafka_produce(alice, team.inbox("bob"), messages, **config))
    assert [(err, value) for err, value, _ in results] == [
        (None, b"ok"),
        ("POLICY_VIOLATION", b"gossip"),
    ]
    seen = await in_thread(lambda: rdkafka_consume(bob, team.inbox("bob"), 1))
    assert [v for v, _ in seen] == [b"ok"]


async def test_kafka_python_idempotent_producer_and_channel_view(
    team: Team, sidecar: GatewayFactory
) -> None:
    alice, carol, dave = await sidecar("alice"), await sidecar("carol"), await sidecar("dave")
    chat: Headers = [("membrane-kind", b"chat"), ("membrane-from", b"bob")]

    def post(gateway: Gateway, values: list[bytes]) -> list[int]:
        producer = kafka.KafkaProducer(
            bootstrap_servers=gateway.bootstrap, enable_idempotence=True, compression_type="gzip"
        )
        try:
            return [
                producer.send(team.general, v, partition=0, headers=chat).get(30).offset
                for v in values
            ]
        finally:
            producer.close()

    assert await in_thread(lambda: post(alice, [b"a1", b"a2"])) == [0, 1]
    assert await in_thread(lambda: post(carol, [b"c1"])) == [2]
    assert await in_thread(lambda: post(alice, [b"a3"])) == [3]

    seen, position = await in_thread(lambda: kafka_python_consume(dave, team.general, 3))
    assert seen == [b"a1", b"a2", b"a3"]
    assert position == 4
    rd_seen = await in_thread(lambda: rdkafka_consume(carol, team.general, 1))
    assert [(v, header(h, "membrane-from")) for v, h in rd_seen] == [(b"c1", [b"carol"])]


async def test_kafka_python_denied_topic(team: Team, sidecar: GatewayFactory) -> None:
    alice = await sidecar("alice")

    def send() -> None:
        producer = kafka.KafkaProducer(bootstrap_servers=alice.bootstrap, max_block_ms=5000)
        try:
            producer.send(team.inbox("carol"), b"x", headers=[("membrane-kind", b"task")]).get(30)
        finally:
            producer.close()

    with pytest.raises(kafka.errors.KafkaError) as caught:
        await in_thread(send)
    assert isinstance(caught.value, kafka.errors.TopicAuthorizationFailedError) or (
        "uthoriz" in str(caught.value)
    )
