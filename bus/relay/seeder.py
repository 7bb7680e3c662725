"""Refilling the dedupe window from the tails of output topics.

After a crash, inputs read since the last commit are read again, and some of
their outputs may already be in the inboxes. Those outputs are the newest
records of their partitions, so reading back the last ``depth`` records of
each partition of a destination topic and hashing their ``membrane-from``,
``membrane-id`` (and, for quarantine copies, ``membrane-recipient``) headers
recovers the keys the window had. Bounded: at most ``depth`` records per
partition, and at most ``timeout`` seconds; on timeout the window is simply
less complete (duplicates possible, never loss).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from bus import headers as h
from bus.engine.dedupe import output_key
from bus.relay.offsets import end_offsets, read_ranges

log = logging.getLogger(__name__)

FETCH_RECORDS = 10_000


def key_of_record(topic: str, headers: Sequence[tuple[str, bytes]]) -> int | None:
    """The dedupe key of a record membrane wrote, or None if it carries no id."""
    sender = msg_id = None
    recipient = b""
    for name, value in headers:
        if name == h.FROM:
            sender = value
        elif name == h.ID:
            msg_id = value
        elif name == h.RECIPIENT:
            recipient = value
    if sender is None or msg_id is None:
        return None
    try:
        return output_key(topic, sender.decode(), msg_id.decode(), recipient.decode())
    except UnicodeDecodeError:
        return None


class TailSeeder:
    """Reads the newest records of topics with a group-less consumer of its own."""

    def __init__(self, consumer: AIOKafkaConsumer, depth: int, timeout: float) -> None:
        self._consumer = consumer
        self._depth = depth
        self._timeout = timeout

    async def keys(self, partitions: Mapping[str, int]) -> list[int]:
        """Keys found in the last ``depth`` records of each partition of these topics."""
        if self._depth == 0 or not partitions:
            return []
        consumer = self._consumer
        tps = [TopicPartition(t, p) for t, count in partitions.items() for p in range(count)]
        keys: list[int] = []
        try:
            async with asyncio.timeout(self._timeout):
                consumer.assign(tps)
                ends = await end_offsets(consumer, tps)
                starts = await consumer.beginning_offsets(tps)
                tails = {tp: (max(starts[tp], ends[tp] - self._depth), ends[tp]) for tp in tps}
                async for tp, records in read_ranges(consumer, tails, wait_ms=200,
                                                     max_records=FETCH_RECORDS):
                    keys.extend(_keys(tp.topic, (r.headers for r in records)))
        except TimeoutError:
            log.warning("dedupe window: reading back %s took over %.0fs; continuing with "
                        "%d keys (redelivered messages may be written twice)",
                        sorted(partitions), self._timeout, len(keys))
        except (KafkaError, UnicodeDecodeError) as exc:
            # UnicodeDecodeError: a record the client cannot parse (a header name that
            # is not UTF-8, written around membrane); the keys before it still count.
            log.warning("dedupe window: could not read back %s (%r); continuing with %d keys",
                        sorted(partitions), exc, len(keys))
        finally:
            consumer.assign([])
        log.debug("dedupe window: %d keys from %d partitions", len(keys), len(tps))
        return keys


def _keys(topic: str, all_headers: Iterable[Sequence[tuple[str, bytes]]]) -> list[int]:
    found = (key_of_record(topic, headers) for headers in all_headers)
    return [key for key in found if key is not None]
