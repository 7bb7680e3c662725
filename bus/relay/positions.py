"""Consumer lag, and partitions whose log was recreated under the relay.

A read position past a partition's high watermark means the log was
recreated (a topic deleted and created again, or a broker that lost its
data): the offsets the relay holds no longer name the same records, and the
broker may never say so. Reading such a partition from its start loses
nothing; what was already written is caught by the dedupe window.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import IllegalStateError

log = logging.getLogger(__name__)

POSITION_TIMEOUT = 0.05  # seconds; a partition whose position is being reset is skipped


async def lag_rewinding_recreated(consumer: AIOKafkaConsumer) -> int:
    """The records behind the high watermark over the partitions ``consumer``
    holds; a partition whose log was recreated is rewound to its start first."""
    lag = 0
    for tp in list(consumer.assignment()):
        # A rebalance may take partitions away while this loop awaits.
        if tp not in consumer.assignment() or (high := consumer.highwater(tp)) is None:
            continue
        try:
            position = await asyncio.wait_for(consumer.position(tp), POSITION_TIMEOUT)
            if position > high:
                log.warning("%s[%d]: read position %d is past the end of the log (%d); "
                            "the log was recreated, reading it from the start",
                            tp.topic, tp.partition, position, high)
                await consumer.seek_to_beginning(tp)
                continue
        except (TimeoutError, IllegalStateError):
            continue  # no position yet (being reset), or no longer ours
        lag += max(0, high - position)
    return lag
