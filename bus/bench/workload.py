"""Benchmark traffic: agents, topics, payloads that carry their send time.

Every payload starts with the sender's wall-clock send time in nanoseconds
(8 bytes, big-endian) and a sequence number (8 bytes), padded to the chosen
size, so the collector can compute end-to-end latency and spot losses and
duplicates without trusting broker timestamps.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from bus import headers as h
from bus.bench.batcher import TopicBatcher

STAMP = struct.Struct(">QQ")
OUTBOX = "agents.{agent}.outbox"
INBOX = "agents.{agent}.inbox"


class Workload:
    """``agents`` senders; sender i addresses agent (i + 1) mod agents."""

    __slots__ = ("agents", "message_size", "prefix")

    def __init__(self, agents: int, message_size: int = 250, prefix: str = "b") -> None:
        if agents < 2:
            raise ValueError("a workload needs at least two agents")
        if message_size < STAMP.size:
            raise ValueError(f"messages must be at least {STAMP.size} bytes")
        self.agents = agents
        self.message_size = message_size
        self.prefix = prefix

    def agent(self, i: int) -> str:
        return f"{self.prefix}{i}"

    @property
    def agent_ids(self) -> list[str]:
        return [self.agent(i) for i in range(self.agents)]

    def recipient(self, sender_index: int) -> str:
        return self.agent((sender_index + 1) % self.agents)

    def payload(self, seq: int) -> bytes:
        stamp = STAMP.pack(time.time_ns(), seq)
        return stamp + b"x" * (self.message_size - STAMP.size)

    def outbox(self, i: int) -> str:
        return OUTBOX.format(agent=self.agent(i))

    def inbox(self, i: int) -> str:
        return INBOX.format(agent=self.agent(i))

    @property
    def inbox_topics(self) -> list[str]:
        return [self.inbox(i) for i in range(self.agents)]


def read_stamp(payload: bytes) -> tuple[int, int]:
    sent_ns, seq = STAMP.unpack_from(payload)
    return int(sent_ns), int(seq)


async def _producer(bootstrap: str) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024, acks=1
    )
    await producer.start()
    return producer


async def ensure_topics(bootstrap: str, topics: Sequence[str]) -> None:
    """Create topics by producing nothing-costly metadata requests (auto-create)."""
    producer = await _producer(bootstrap)
    try:
        for topic in topics:
            await producer.partitions_for(topic)
    finally:
        await producer.stop()


async def preload(bootstrap: str, workload: Workload, count: int, *, direct: bool) -> None:
    """Write ``count`` messages round-robin over the senders, as fast as batches allow.

    ``direct`` writes to the recipients' inboxes (no proxy); otherwise to the
    senders' outboxes with ``membrane-to`` set, for a relay to carry.
    """
    producer = await _producer(bootstrap)
    try:
        batcher = TopicBatcher(producer)
        for seq in range(count):
            i = seq % workload.agents
            if direct:
                await batcher.add(workload.inbox((i + 1) % workload.agents), workload.payload(seq))
            else:
                to = [(h.TO, workload.recipient(i).encode())]
                await batcher.add(workload.outbox(i), workload.payload(seq), headers=to)
        await batcher.flush()
    finally:
        await producer.stop()


async def paced_send(
    bootstrap: str, workload: Workload, rate: float, seconds: float, *, direct: bool
) -> int:
    """Send at ``rate`` messages per second for ``seconds``; returns how many were sent."""
    producer = await _producer(bootstrap)
    sent = 0
    tick = 0.005
    per_tick = rate * tick
    try:
        start = time.monotonic()
        owed = 0.0
        pending: list[asyncio.Future[object]] = []
        while (now := time.monotonic()) - start < seconds:
            owed = rate * (now - start) - sent
            for _ in range(int(min(owed, per_tick * 4))):
                i = sent % workload.agents
                if direct:
                    topic, headers = workload.inbox((i + 1) % workload.agents), []
                else:
                    topic = workload.outbox(i)
                    headers = [(h.TO, workload.recipient(i).encode())]
                pending.append(
                    await producer.send(topic, workload.payload(sent), partition=0, headers=headers)
                )
                sent += 1
            if len(pending) > 1000:
                await asyncio.gather(*pending)
                pending.clear()
            await asyncio.sleep(tick)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent
