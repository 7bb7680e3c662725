"""The load generator: writes a workload's messages as fast as possible, or at a fixed rate.

Both modes batch per topic (``TopicBatcher``), so the generator itself is
not what limits a measurement: a burst runs at the producer's batch speed,
and a paced send emits, every ``TICK`` seconds, the messages owed by then,
each stamped when it is appended.
"""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaProducer

from bus.bench.batcher import TopicBatcher
from bus.bench.workload import Route, Workload
from bus.lifecycle import AsyncLifecycle

TICK = 0.005  # seconds between paced emissions
MAX_TICKS_OWED = 4  # after a stall, catch up at most this many ticks at once


class Sender(AsyncLifecycle):
    """Writes ``workload`` messages to ``bootstrap`` along ``route``."""

    def __init__(self, bootstrap: str, workload: Workload, route: Route) -> None:
        self.workload = workload
        self.route = route
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, linger_ms=0, max_batch_size=256 * 1024,
            max_request_size=2 * 1024 * 1024, acks=1,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def touch(self, topics: list[str]) -> None:
        """Make sure ``topics`` exist (brokers create topics on first metadata request)."""
        for topic in topics:
            await self._producer.partitions_for(topic)

    async def burst(self, first_seq: int, count: int) -> None:
        """Messages ``first_seq`` .. ``first_seq + count - 1``, as fast as batches allow;
        returns once the broker acknowledged them all."""
        batcher = TopicBatcher(self._producer)
        workload, route = self.workload, self.route
        for seq in range(first_seq, first_seq + count):
            topic, headers = workload.route(seq, route)
            await batcher.add(topic, workload.payload(seq), headers=headers)
        await batcher.flush()

    async def paced(self, first_seq: int, rate: float, seconds: float) -> int:
        """Messages from ``first_seq`` on at ``rate`` per second for ``seconds``;
        returns how many were sent (all acknowledged)."""
        batcher = TopicBatcher(self._producer)
        workload, route = self.workload, self.route
        sent = 0
        start = time.monotonic()
        cap = max(1, int(rate * TICK * MAX_TICKS_OWED))
        while (elapsed := time.monotonic() - start) < seconds:
            owed = min(int(rate * elapsed) - sent, cap)
            for _ in range(owed):
                seq = first_seq + sent
                topic, headers = workload.route(seq, route)
                await batcher.add(topic, workload.payload(seq), headers=headers)
                sent += 1
            await batcher.send_open()
            await asyncio.sleep(TICK)
        await batcher.flush()
        return sent
