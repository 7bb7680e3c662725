"""Helpers for the relay's end-to-end tests on the real embedded broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from bus.embedded import EmbeddedBroker
from bus.engine.ports import PolicySource
from bus.metrics import Metrics
from bus.relay import Relay, RelaySettings

Headers = list[tuple[str, bytes]]

# The embedded broker answers a group join after half the session timeout.
FAST_GROUP = {"session_timeout": 2.0, "heartbeat_interval": 0.5}


@pytest.fixture
def prefix() -> str:
    return f"r{uuid.uuid4().hex[:10]}"


def rules_text(prefix: str, body: str) -> str:
    return (
        "version: 1\n"
        "topics:\n"
        f"  outbox: \"{prefix}.{{agent}}.outbox\"\n"
        f"  inbox: \"{prefix}.{{agent}}.inbox\"\n"
        f"  quarantine: \"{prefix}.quarantine\"\n" + body
    )


def write_rules(path: Path, prefix: str, body: str) -> Path:
    path.write_text(rules_text(prefix, body))
    return path


def settings(prefix: str, **overrides: Any) -> RelaySettings:
    values: dict[str, Any] = {"group_id": f"membrane-{prefix}", **FAST_GROUP, **overrides}
    return RelaySettings(**values)


async def create_topics(broker: EmbeddedBroker, topics: Iterable[str]) -> None:
    """Make sure the topics exist (the broker creates them on first metadata request)."""
    async with producer_for(broker) as producer:
        for topic in topics:
            await producer.partitions_for(topic)


@asynccontextmanager
async def running_relay(holder: PolicySource, broker: EmbeddedBroker, prefix: str,
                        **overrides: Any) -> AsyncIterator[Relay]:
    """A started relay; the outboxes of the policy's agents exist before it subscribes,
    so its first group assignment already covers them."""
    policy = holder.current
    await create_topics(broker, [policy.outbox_topic(a) for a in policy.agents])
    relay = Relay(holder, bootstrap=broker.bootstrap, metrics=Metrics(),
                  settings=settings(prefix, **overrides))
    await relay.start()
    try:
        await relay.wait_ready(60)
        yield relay
    finally:
        await relay.stop(10)


@asynccontextmanager
async def producer_for(broker: EmbeddedBroker) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def produce(producer: AIOKafkaProducer, topic: str,
                  messages: Iterable[tuple[Headers, bytes]], partition: int = 0) -> None:
    """Write messages in order to one partition, in batches."""
    futures = []
    batch = producer.create_batch()
    for headers, payload in messages:
        if batch.append(key=None, value=payload, timestamp=None, headers=headers) is None:
            futures.append(await producer.send_batch(batch, topic, partition=partition))
            batch = producer.create_batch()
            batch.append(key=None, value=payload, timestamp=None, headers=headers)
    futures.append(await producer.send_batch(batch, topic, partition=partition))
    await asyncio.gather(*futures)


async def read_topics(broker: EmbeddedBroker, topics: Iterable[str],
                      done: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
                      timeout: float = 60.0) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topics`` from the start, until ``done(records)`` or timeout."""
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        async with producer_for(broker) as producer:  # creates topics membrane did not yet
            tps = [TopicPartition(topic, p) for topic in topics
                   for p in await producer.partitions_for(topic)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while not done(records) and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
    finally:
        await consumer.stop()
    return records


def header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    values = [v.decode() for k, v in record.headers if k == name]
    return values[0] if values else None


def metric(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0
