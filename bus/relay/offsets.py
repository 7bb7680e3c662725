"""Reading partitions up to "now": end offsets that can be trusted, and the read.

Some Kafka-compatible brokers (the embedded tansu among them) answer a
ListOffsets(latest) with the first offset of the last record batch plus one,
not the offset after its last record, so a reader that stops there misses
the rest of that batch. ``end_offsets`` asks, then reads the last batch of
each non-empty partition and takes the offset after its last record.

``read_ranges`` then reads each partition from a start offset up to such an
end, whatever the broker appends meanwhile: replay stops at the snapshot it
took, and the dedupe seeder at the tail it meant to read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

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


async def read_ranges(consumer: AIOKafkaConsumer,
                      ranges: Mapping[TopicPartition, tuple[int, int]], *, wait_ms: int,
                      max_records: int | None = None,
                      ) -> AsyncGenerator[tuple[TopicPartition, list[Any]], None]:
    """The records of each assigned partition from ``start`` up to, not including,
    ``end`` (``ranges`` maps a partition to ``(start, end)``), one fetched batch at
    a time; a partition is done once the consumer's position reaches its end."""
    todo: dict[TopicPartition, int] = {}
    for tp, (start, end) in ranges.items():
        if start < end:
            consumer.seek(tp, start)
            todo[tp] = end
    while todo:
        batch = await consumer.getmany(*todo, timeout_ms=wait_ms, max_records=max_records)
        for tp, records in batch.items():
            end = todo.get(tp, 0)
            yield tp, [record for record in records if record.offset < end]
        for tp in list(todo):
            if await consumer.position(tp) >= todo[tp]:
                del todo[tp]
