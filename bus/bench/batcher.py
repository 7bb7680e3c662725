"""Record batching for the benchmark's load generator and no-op relay.

One open aiokafka batch per topic (partition 0: benchmark topics have one);
a full batch is sent at once and a new one opened, so memory stays bounded.
``send_open`` hands every open batch to the producer without waiting for the
broker (a paced sender calls it once per tick); ``flush`` also waits until
the broker acknowledged everything sent so far.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

PRUNE_ACKS_ABOVE = 1_000


class TopicBatcher:
    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._open: dict[str, Any] = {}
        self._acks: list[asyncio.Future[Any]] = []

    async def add(
        self, topic: str, value: bytes | None, key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        if not isinstance(headers, list):  # the record builder takes lists only
            headers = list(headers)
        batch = self._open.get(topic)
        if batch is None:
            batch = self._open[topic] = self._producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
            await self._send(topic, batch)
            batch = self._open[topic] = self._producer.create_batch()
            batch.append(key=key, value=value, timestamp=None, headers=headers)

    async def _send(self, topic: str, batch: Any) -> None:
        self._acks.append(await self._producer.send_batch(batch, topic, partition=0))

    async def send_open(self) -> None:
        """Hand every open batch to the producer; do not wait for the broker."""
        for topic, batch in self._open.items():
            await self._send(topic, batch)
        self._open.clear()
        if len(self._acks) > PRUNE_ACKS_ABOVE:
            for ack in self._acks:
                if ack.done():
                    ack.result()  # a refused batch fails the run rather than losing quietly
            self._acks = [ack for ack in self._acks if not ack.done()]

    async def flush(self) -> None:
        """Send every open batch and wait until the broker acknowledged all of them."""
        await self.send_open()
        acks, self._acks = self._acks, []
        await asyncio.gather(*acks)
