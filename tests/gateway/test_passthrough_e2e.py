"""The gateway as a transparent proxy: real clients, real broker, rewritten addresses."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bus.embedded import EmbeddedBroker
from bus.gateway.server import Gateway
from bus.metrics import Metrics

pytestmark = pytest.mark.e2e


async def test_aiokafka_round_trip_goes_through_gateway_addresses(
    kafka_broker: EmbeddedBroker,
) -> None:
    topic = f"plain-{uuid.uuid4().hex[:8]}"
    async with Gateway(
        None,
        upstream=kafka_broker.bootstrap,
        listen=("127.0.0.1", 0),
        metrics=Metrics(),
    ) as gateway:
        producer = AIOKafkaProducer(bootstrap_servers=gateway.bootstrap, compression_type="gzip")
        await producer.start()
        try:
            for i in range(20):
                await producer.send_and_wait(topic, f"m{i}".encode(), partition=0)
            brokers = producer.client.cluster.brokers()
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=gateway.bootstrap, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            from aiokafka import TopicPartition

            consumer.assign([TopicPartition(topic, 0)])
            values = []
            while len(values) < 20:
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 30)
                values.extend(r.value for records in batch.values() for r in records)
        finally:
            await consumer.stop()

        assert values == [f"m{i}".encode() for i in range(20)]
        routes = gateway.brokers.routes()
        assert [r.upstream for r in routes] == [(kafka_broker.host, kafka_broker.port)]
        assert {(b.host, b.port) for b in brokers} == {("127.0.0.1", routes[0].local_port)}
        assert gateway.stats.by_api["produce"].count >= 20
        assert gateway.stats.by_api["fetch"].count >= 1
