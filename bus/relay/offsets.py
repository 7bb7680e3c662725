"""End offsets that can be trusted for "read everything up to now".

Some Kafka-compatible brokers (the embedded tansu among them) answer a
ListOffsets(latest) with the first offset of the last record batch plus one,
not the offset after its last record, so a reader that stops there misses
the rest of that batch. ``end_offsets`` asks, then reads the last batch of
each non-empty partition and takes the offset after its last record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

PROBE_TIMEOUT = 5.0


async def end_offsets(consumer: AIOKafkaConsumer, tps: Sequence[TopicPartition]
                      ) -> dict[TopicPartition, int]:
    """The offset after the last record of each partition (the consumer must have them
    assigned; their positions are left wherever the probe read to)."""
    ends: dict[TopicPartition, int] = dict(await consumer.end_offsets(list(tps)))
    probe = {tp for tp, end in ends.items() if end > 0}
    for tp in probe:
        consumer.seek(tp, ends[tp] - 1)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PROBE_TIMEOUT
    while probe and loop.time() < deadline:
        batch = await consumer.getmany(*probe, timeout_ms=200)
        for tp, records in batch.items():
            if records:
                ends[tp] = max(ends[tp], records[-1].offset + 1)
                probe.discard(tp)
    return ends
