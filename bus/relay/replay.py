"""Replay: quarantined messages decided again by the policy in force now.

Algorithm: take a snapshot of the quarantine topic's end offsets, then read
every partition from where the previous replay stopped (the offsets the
replay consumer group committed; ``from_beginning`` ignores them) up to that
snapshot. Each record that passes the filters (reason, age, not undecodable,
replayed fewer than ``max_replays`` times) is turned back into the envelope
it was and handed to the engine, so it meets the policy and the filter
chain again. What is now allowed goes to the recipient; what is still
refused is quarantined again with ``membrane-replayed`` incremented. Then
the progress is committed. Stopping at the snapshot, skipping what was
already replayed, and the replay counter mean a replay always terminates
and never feeds on its own output.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from bus import headers as h
from bus.engine.engine import Engine
from bus.engine.outcome import Outcome
from bus.errors import ProtocolError, UpstreamError
from bus.relay.offsets import end_offsets, read_ranges
from bus.relay.quarantined import QuarantinedRecord
from bus.relay.sink import partition_of

log = logging.getLogger(__name__)

HOLD_TIMEOUT = 60.0  # seconds to wait for messages a filter holds during a replay


@dataclass
class ReplayFilter:
    """Which quarantined records to replay."""

    reasons: frozenset[str] = frozenset()
    since: float | None = None  # epoch seconds
    limit: int | None = None
    max_replays: int = 3
    from_beginning: bool = False

    def skip_reason(self, record: QuarantinedRecord, timestamp: float) -> str | None:
        if self.reasons and record.reason not in self.reasons:
            return "other reason"
        if self.since is not None and timestamp < self.since:
            return "older"
        if record.verdict == "invalid":
            return "undecodable"
        if record.replays >= self.max_replays:
            return "replayed too often"
        return None


@dataclass
class ReplaySummary:
    read: int = 0
    replayed: int = 0
    forwarded: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        out = [f"read {self.read} quarantined records; replayed {self.replayed}: "
               f"{self.forwarded} delivered, {sum(self.quarantined.values())} quarantined again"]
        out += [f"  still refused: {reason} x{n}" for reason, n in self.quarantined.most_common()]
        out += [f"  skipped: {why} x{n}" for why, n in self.skipped.most_common()]
        return out


class Replayer:
    """One replay pass over the quarantine topic; see the module docstring."""

    def __init__(self, engine: Engine, options: Mapping[str, Any], *, group_id: str,
                 dry_run: bool = False) -> None:
        self._engine = engine
        self._options = options
        self._group_id = group_id
        self._dry_run = dry_run
        self._pending: list[asyncio.Future[Any]] = []
        self._summary = ReplaySummary()
        self._partitions: dict[str, int] = {}

    async def run(self, which: ReplayFilter) -> ReplaySummary:
        consumer = AIOKafkaConsumer(**self._options, group_id=self._group_id,
                                    enable_auto_commit=False)
        producer = AIOKafkaProducer(**self._options, acks="all")
        try:
            await consumer.start()
            await producer.start()
        except (KafkaError, OSError) as exc:
            await _stop(consumer, producer)
            raise UpstreamError(f"cannot connect: {exc}", retriable=True) from exc
        self._engine.on_release(lambda outcomes: self._write(producer, outcomes))
        await self._engine.start()
        try:
            progress = await self._replay(consumer, producer, which)
            await self._wait_for_held()
            await asyncio.gather(*self._pending)
            if progress and not self._dry_run:
                await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in progress.items()})
        except KafkaError as exc:
            raise UpstreamError(f"replay failed: {exc!r}", retriable=True) from exc
        finally:
            self._engine.on_release(None)
            await self._engine.stop()
            await _stop(consumer, producer)
        return self._summary

    async def _replay(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer,
                      which: ReplayFilter) -> dict[TopicPartition, int]:
        topic = self._engine.policy.quarantine_topic
        partitions = await producer.partitions_for(topic)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        ends = await end_offsets(consumer, tps)
        ranges: dict[TopicPartition, tuple[int, int]] = {}
        for tp in tps:
            start = None if which.from_beginning else await consumer.committed(tp)
            if start is None:
                await consumer.seek_to_beginning(tp)
                start = await consumer.position(tp)
            ranges[tp] = (start, ends[tp])
        progress: dict[TopicPartition, int] = {}
        async with contextlib.aclosing(read_ranges(consumer, ranges, wait_ms=500)) as batches:
            async for tp, records in batches:
                for record in records:
                    if which.limit is not None and self._summary.replayed >= which.limit:
                        return progress
                    await self._replay_one(producer, tp, record, which)
                    progress[tp] = record.offset + 1
        return progress

    async def _replay_one(self, producer: AIOKafkaProducer, tp: TopicPartition, record: Any,
                          which: ReplayFilter) -> None:
        self._summary.read += 1
        quarantined = QuarantinedRecord(record.headers)
        why = which.skip_reason(quarantined, record.timestamp / 1000.0)
        if why is None:
            try:
                env = quarantined.original_envelope(record.value, record.key,
                                                    record.timestamp / 1000.0)
            except ProtocolError as exc:
                why = exc.reason
        if why is not None:
            self._summary.skipped[why] += 1
            return
        self._summary.replayed += 1
        marker = _marker(quarantined.replays + 1, tp, record.offset)
        outcomes = await self._engine.handle(env, origin=marker)
        self._write(producer, outcomes)

    def _write(self, producer: AIOKafkaProducer, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            if outcome.forwarded:
                self._summary.forwarded += 1
            else:
                self._summary.quarantined[outcome.reason] += 1
            if self._dry_run:
                log.info("would %s %s", outcome.action, outcome)
                continue
            marker = outcome.origin if isinstance(outcome.origin, tuple) else ()
            headers = [*outcome.headers, *marker]
            self._pending.append(asyncio.ensure_future(self._send(producer, outcome, headers)))

    async def _send(self, producer: AIOKafkaProducer, outcome: Outcome,
                    headers: list[tuple[str, bytes]]) -> None:
        topic = outcome.destination
        if topic not in self._partitions:
            self._partitions[topic] = len(await producer.partitions_for(topic))
        partition = partition_of(outcome.env.sender, self._partitions[topic])
        await producer.send_and_wait(topic, outcome.payload, key=outcome.env.key,
                                     headers=headers, partition=partition)

    async def _wait_for_held(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HOLD_TIMEOUT
        while self._engine.held and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if self._engine.held:
            log.warning("%d replayed messages still held by filters after %.0fs; "
                        "they stay in quarantine for the next replay", self._engine.held,
                        HOLD_TIMEOUT)


def _marker(count: int, tp: TopicPartition, offset: int) -> tuple[tuple[str, bytes], ...]:
    """Headers that say what was replayed: counter and where it was read."""
    return (
        (h.REPLAYED, str(count).encode()),
        (h.ORIGIN_TOPIC, tp.topic.encode()),
        (h.ORIGIN_PARTITION, str(tp.partition).encode()),
        (h.ORIGIN_OFFSET, str(offset).encode()),
    )


async def _stop(*clients: Any) -> None:
    for client in clients:
        try:
            await client.stop()
        except (KafkaError, OSError) as exc:
            log.debug("closing %s: %r", type(client).__name__, exc)
