"""Outbox records the Kafka client cannot parse: found, quarantined, read past.

aiokafka decodes header names as UTF-8 while it iterates a fetched batch. A
record whose header name is not UTF-8 (librdkafka and hand-made clients can
write one) makes ``getmany`` raise ``UnicodeDecodeError``; the records that
call had already taken from other partitions are lost to the caller, while
the client's positions moved past them. Left alone, the relay would fail on
that record every time it read it again, and nothing behind it would pass.

Recovery, in three steps, none on the hot path:

1. ``rewind``: every assigned partition goes back to the first input the
   relay has not opened (from the offset tracker; else the committed offset;
   else the beginning), so no record is skipped.
2. ``find``: each partition with unread records (by the high watermark of
   its last fetch) is read on its own until one fails; the records read on
   the way are relayed as usual.
3. In the failing partition, records are read one at a time up to the one
   that fails. Its offset is returned; the caller quarantines it as a whole
   (its content cannot be read, only its place) and reading resumes after it.

The client decodes a whole batch before it skips records below the fetch
offset, so records written in the same producer batch after the unreadable
one fail too; each is quarantined on its own the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bus.engine.commit import OffsetTracker

log = logging.getLogger(__name__)

UNREADABLE = "unreadable-record"
PROBE_MS = 1_000  # how long one read may wait for the broker while probing
MAX_EMPTY_READS = 3  # a partition that gives nothing this often is left for the next read

Relay = Callable[[TopicPartition, list[Any]], Awaitable[None]]


async def rewind(consumer: AIOKafkaConsumer, tracker: OffsetTracker) -> None:
    """Seek every assigned partition to the first input not opened yet."""
    for tp in list(consumer.assignment()):
        offset = tracker.next_offset(tp.topic, tp.partition)
        if offset is None:
            offset = await consumer.committed(tp)
        if offset is None:
            offset = (await consumer.beginning_offsets([tp]))[tp]
        consumer.seek(tp, offset)


async def find(consumer: AIOKafkaConsumer, relay: Relay) -> tuple[TopicPartition, int] | None:
    """The partition and offset of the record that cannot be parsed, with the
    consumer positioned after it; None if no partition failed this time."""
    for tp in list(consumer.assignment()):
        high = consumer.highwater(tp)
        if high is not None and await consumer.position(tp) >= high:
            continue  # nothing unread there, so not the record that failed
        try:
            batch = await consumer.getmany(tp, timeout_ms=PROBE_MS)
        except UnicodeDecodeError:
            return await _step_to_failure(consumer, tp, relay)
        for part, records in batch.items():
            await relay(part, records)
    return None


async def _step_to_failure(consumer: AIOKafkaConsumer, tp: TopicPartition, relay: Relay
                           ) -> tuple[TopicPartition, int] | None:
    # The failed read did not move the position; seeking there drops its broken batch.
    consumer.seek(tp, await consumer.position(tp))
    empty = 0
    while empty < MAX_EMPTY_READS:
        try:
            batch = await consumer.getmany(tp, timeout_ms=PROBE_MS, max_records=1)
        except UnicodeDecodeError as exc:
            offset = await consumer.position(tp)
            consumer.seek(tp, offset + 1)
            log.warning("%s[%d] offset %d cannot be parsed (%s); quarantined as %s",
                        tp.topic, tp.partition, offset, exc.reason, UNREADABLE)
            return tp, offset
        empty = 0 if batch else empty + 1
        for part, records in batch.items():
            await relay(part, records)
    return None
