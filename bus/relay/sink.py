"""The batched Kafka sink: outcomes in, record batches out, tickets completed on ack.

``submit`` only appends to a list (O(1), synchronous, so the engine's
release callback can use it and order is the call order). ``flush`` turns
the list into one ``BatchBuilder`` per (topic, partition), hands each to
``send_batch``, and completes each output's ticket when the broker
acknowledges its batch. Flushes are serialised by a lock, so batches of one
partition reach the producer in submission order; aiokafka keeps at most
one request in flight per broker, so that order is the order on disk.
``kick`` asks a background writer to flush, so the reader can decide the
next records while the previous batches wait for the broker.

The inbox partition is chosen from the sender (CRC-32 of its id modulo the
partition count), so every message of one (sender → recipient) pair lands
in one partition, in order, whatever record key the sender used.

Before a destination topic is first written (and again after every
rebalance) the dedupe window is refilled from that topic's tail; then every
output whose key is in the window is counted as a duplicate and its ticket
completed without writing it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from functools import partial
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from bus import headers as h
from bus.engine.commit import Ticket
from bus.engine.dedupe import DedupeWindow, output_key
from bus.engine.outcome import QUARANTINE, Outcome
from bus.engine.tasks import BackgroundTask
from bus.errors import UpstreamError
from bus.fastmetrics import PlainHistogram, plain_counter
from bus.kafka_refusals import produce_failure
from bus.metrics import Metrics

log = logging.getLogger(__name__)

Seeder = Callable[[Mapping[str, int]], Awaitable[Iterable[int]]]
"""Keys found in the tails of these topics (name → partition count)."""


def partition_of(sender: str, partitions: int) -> int:
    """The partition for every message of ``sender`` in a topic (stable across processes)."""
    return zlib.crc32(sender.encode()) % partitions


class _Batch:
    """One record batch for one partition, with the outputs it carries."""

    __slots__ = ("builder", "handed", "keys", "partition", "sent_at", "tickets", "topic")

    def __init__(self, builder: Any, topic: str, partition: int) -> None:
        self.builder = builder
        self.topic = topic
        self.partition = partition
        self.sent_at = 0.0  # monotonic, when handed to the producer
        self.handed = False  # the producer took it; its acknowledgement settles it
        self.tickets: list[Ticket] = []
        self.keys: list[int] = []


class BatchSink:
    """Writes outcomes to Kafka in per-partition batches; see the module docstring."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        window: DedupeWindow,
        metrics: Metrics,
        *,
        seeder: Seeder | None = None,
    ) -> None:
        self._producer = producer
        self._window = window
        self._seeder = seeder
        self._queue: list[tuple[Outcome, Ticket]] = []
        self._partitions: dict[str, int] = {}
        self._seeded: set[str] = set()
        self._lock = asyncio.Lock()
        self._kicked = asyncio.Event()
        self._writer = BackgroundTask(self._write_when_kicked, "membrane-sink")
        self._unacked = 0
        self.failure: Exception | None = None
        """Why writing stopped: an ``UpstreamError`` from the broker, or any other error."""
        self._duplicates = plain_counter(metrics.dedupe_dropped)
        self._latency = PlainHistogram(metrics.end_to_end_seconds.labels("kafka"))
        self._transit = PlainHistogram(metrics.transit_seconds.labels("kafka"))
        self._produce = PlainHistogram(metrics.produce_seconds.labels("kafka"))

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def unacked(self) -> int:
        """Outputs handed to the producer and not yet acknowledged."""
        return self._unacked

    def submit(self, outcome: Outcome, ticket: Ticket) -> None:
        """Queue one output of ``ticket``; the caller has counted it with ``ticket.expect``."""
        self._queue.append((outcome, ticket))

    def reseed(self) -> None:
        """Refill the dedupe window from each topic's tail again before writing to it
        (after a rebalance, another process may have written there)."""
        self._seeded.clear()

    async def start(self) -> None:
        self._writer.start()

    async def stop(self) -> None:
        await self._writer.stop()

    def kick(self) -> None:
        """Flush soon, in the background (failures surface as ``failure``)."""
        self._kicked.set()

    async def _write_when_kicked(self) -> None:
        while True:
            await self._kicked.wait()
            self._kicked.clear()
            try:
                await self.flush()
            except Exception as exc:
                # Any error, not only the broker's: a writer that ended unseen
                # left every later output unwritten and the relay waiting on
                # their acknowledgements for good. The reader raises it.
                if self.failure is None:
                    self.failure = exc
                return

    async def flush(self) -> None:
        """Hand everything queued to the producer; raises ``UpstreamError`` on failure."""
        async with self._lock:
            if self.failure is not None:
                raise self.failure
            queue, self._queue = self._queue, []
            if not queue:
                return
            await self._prepare({outcome.destination for outcome, _ in queue})
            await self._write(queue)

    async def _prepare(self, destinations: set[str]) -> None:
        unknown = destinations.difference(self._partitions)
        try:
            for topic in unknown:
                self._partitions[topic] = len(await self._producer.partitions_for(topic))
        except KafkaError as exc:
            raise UpstreamError(f"no metadata for {sorted(unknown)}: {exc!r}",
                                retriable=True) from exc
        unseeded = destinations.difference(self._seeded)
        if unseeded and self._seeder is not None:
            add = self._window.add
            for key in await self._seeder({t: self._partitions[t] for t in unseeded}):
                add(key)
        self._seeded.update(unseeded)

    async def _write(self, queue: list[tuple[Outcome, Ticket]]) -> None:
        batches: dict[tuple[str, int], _Batch] = {}
        try:
            await self._build_and_send(queue, batches)
        except BaseException:
            # The outputs of batches never handed over were entered in the
            # window; left there, the next session would take them for
            # duplicates when it reads their inputs again, and commit them
            # unwritten.
            for batch in batches.values():
                if not batch.handed:
                    self._forget(batch)
            raise

    async def _build_and_send(self, queue: list[tuple[Outcome, Ticket]],
                              batches: dict[tuple[str, int], _Batch]) -> None:
        window_add = self._window.add
        for outcome, ticket in queue:
            if ticket.abandoned:
                continue  # its partition moved to another process, which reads it again
            env = outcome.env
            topic = outcome.destination
            recipient = ""
            headers = outcome.headers
            if outcome.action == QUARANTINE:
                recipient = outcome.recipient or ""
                headers = [*headers, *_origin_headers(ticket)]
            partition = partition_of(env.sender, self._partitions[topic])
            key = output_key(topic, env.sender, env.msg_id, recipient)
            if not window_add(key):
                self._duplicates.value += 1
                ticket.done()
                continue
            batch = batches.get((topic, partition))
            full = None
            if batch is None or batch.builder.append(
                    key=env.key, value=outcome.payload, timestamp=None, headers=headers) is None:
                full = batch
                batch = batches[(topic, partition)] = self._new_batch(topic, partition)
                batch.builder.append(key=env.key, value=outcome.payload, timestamp=None,
                                     headers=headers)
            batch.tickets.append(ticket)
            batch.keys.append(key)
            if full is not None:  # after the output is in a batch, so a failure forgets it
                await self._send(full)
        for batch in batches.values():
            await self._send(batch)

    def _new_batch(self, topic: str, partition: int) -> _Batch:
        return _Batch(self._producer.create_batch(), topic, partition)

    async def _send(self, batch: _Batch) -> None:
        batch.builder.close()
        batch.sent_at = time.monotonic()
        try:
            future = await self._producer.send_batch(batch.builder, batch.topic,
                                                     partition=batch.partition)
        except BaseException as exc:
            self._forget(batch)
            if not isinstance(exc, KafkaError):
                raise
            raise produce_failure(batch.topic, exc) from exc
        batch.handed = True
        self._unacked += len(batch.tickets)
        future.add_done_callback(partial(self._on_ack, batch))

    def _on_ack(self, batch: _Batch, future: asyncio.Future[Any]) -> None:
        self._unacked -= len(batch.tickets)
        error = None if future.cancelled() else future.exception()
        if future.cancelled() or error is not None:
            self._forget(batch)
            if self.failure is None:
                self.failure = UpstreamError(
                    f"broker did not acknowledge {len(batch.tickets)} records for "
                    f"{batch.topic}[{batch.partition}]: {error!r}", retriable=True)
            return
        now, since_start = time.time(), time.monotonic()
        self._produce.observe(since_start - batch.sent_at)
        latency, transit = self._latency, self._transit
        for ticket in batch.tickets:
            ticket.done()
            if ticket.pending == 0:
                transit.observe(since_start - ticket.read_at)
                if ticket.timestamp > 0:
                    latency.observe(max(0.0, now - ticket.timestamp))

    def _forget(self, batch: _Batch) -> None:
        """The batch was not written: its keys must not count as seen."""
        discard = self._window.discard
        for key in batch.keys:
            discard(key)


def _origin_headers(ticket: Ticket) -> list[tuple[str, bytes]]:
    return [
        (h.ORIGIN_TOPIC, ticket.topic.encode()),
        (h.ORIGIN_PARTITION, str(ticket.partition).encode()),
        (h.ORIGIN_OFFSET, str(ticket.offset).encode()),
    ]
