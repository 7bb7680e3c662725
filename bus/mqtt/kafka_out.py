"""Writing the MQTT bridge's Kafka-bound outcomes: forwards to Kafka agents, quarantine.

In a mixed fleet a message from an MQTT agent to a Kafka agent lands in the
Kafka agent's inbox topic with the same headers as a relayed one, and the
MQTT input is acknowledged only once Kafka has acknowledged the record. The
partition is chosen from the sender exactly as the relay chooses it (CRC-32
of the sender id modulo the partition count), so one pair's messages stay
in one partition and in order whichever transport they came from.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from bus.engine.outcome import Outcome
from bus.kafka_refusals import produce_failure


class KafkaWriter:
    """``submit(outcome)`` for the bridge's router, on an aiokafka producer the
    caller starts and stops (``acks="all"`` makes an acknowledgement durable)."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._partitions: dict[str, int] = {}

    def submit(self, outcome: Outcome) -> asyncio.Future[None]:
        """Start the write now (writes are queued in call order)."""
        return asyncio.ensure_future(self.write(outcome))

    async def write(self, outcome: Outcome) -> None:
        topic = outcome.destination
        try:
            count = self._partitions.get(topic)
            if count is None:
                count = self._partitions[topic] = len(await self._producer.partitions_for(topic))
            sent: asyncio.Future[Any] = await self._producer.send(
                topic,
                value=outcome.payload,
                key=outcome.env.key,
                headers=outcome.headers,
                partition=zlib.crc32(outcome.env.sender.encode()) % count,
            )
            await sent
        except KafkaError as exc:
            raise produce_failure(topic, exc) from exc
