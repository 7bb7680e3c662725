"""Record batching for the benchmark's load generator and no-op relay.

One open aiokafka batch per topic (partition 0: benchmark topics have one);
a full batch is sent at once and a new one opened, so memory stays bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer


class TopicBatcher:
    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._open: dict[str, Any] = {}
        self._acks: list[asyncio.Future[Any]] = []

    async def add(
        self, topic: str, value: bytes | None, key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        batch = self._open.get(topic)
        if batch is None:
            batch = self._open[topic] = self._producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None, headers=list(headers)) is None:
            self._acks.append(await self._producer.send_batch(batch, topic, partition=0))
            batch = self._open[topic] = self._producer.create_batch()
            batch.append(key=key, value=value, timestamp=None, headers=list(headers))

    async def flush(self) -> None:
        """Send every open batch and wait until the broker acknowledged all of them."""
        for topic, batch in self._open.items():
            self._acks.append(await self._producer.send_batch(batch, topic, partition=0))
        self._open.clear()
        acks, self._acks = self._acks, []
        await asyncio.gather(*acks)
