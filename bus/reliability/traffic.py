"""Numbered traffic on a real broker: a producer that tells the ledger what the
broker acknowledged, and a reader that tells it what membrane wrote.

``NumberedProducer`` batches records per (topic, partition) with aiokafka's
``create_batch``/``send_batch`` and, when the broker acknowledges a batch,
expects each of its inputs in the ledger; a batch the broker refuses counts
as ``failed`` and is not expected (it may or may not exist: outputs of such
inputs show up as ``unexpected``, never as lost).

``OutputReader`` reads every partition of the inbox topics and the
quarantine topic from the beginning and feeds each record with a
``ledger-seq`` header to the ledger; records without one are counted as
``foreign``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from bus import headers as h
from bus.lifecycle import AsyncLifecycle
from bus.reliability.ledger import LEDGER_HEADER, WHOLE, Ledger

Headers = Sequence[tuple[str, bytes]]
RecordHook = Callable[[str, int, Any], None]
"""Called with (topic, input number, record) for every ledger record read."""


def json_payload(seq: int, size: int = 100) -> bytes:
    """A JSON object carrying the input number, padded to about ``size`` bytes."""
    body = json.dumps({"seq": seq, "pad": ""}).encode()
    pad = max(0, size - len(body))
    return json.dumps({"seq": seq, "pad": "x" * pad}).encode()


async def partition_counts(bootstrap: str, topics: Iterable[str]) -> dict[str, int]:
    """How many partitions each topic has (creating it, as the broker auto-creates)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        return {topic: len(await producer.partitions_for(topic)) for topic in topics}
    finally:
        await producer.stop()


async def _stop_quietly(stopping: Awaitable[Any]) -> None:
    """Close a client even when the broker is gone: aiokafka then lets the
    cancellation of its own background tasks escape ``stop()``."""
    try:
        await stopping
    except (KafkaError, OSError):
        pass
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise


class _OpenBatch:
    __slots__ = ("builder", "outputs", "partition", "seqs", "topic")

    def __init__(self, builder: Any, topic: str, partition: int) -> None:
        self.builder = builder
        self.topic = topic
        self.partition = partition
        self.seqs: list[int] = []
        self.outputs: list[int] = []


class NumberedProducer(AsyncLifecycle):
    """Produces numbered inputs; the ledger expects those the broker acknowledged."""

    def __init__(self, bootstrap: str, ledger: Ledger, *, request_timeout: float = 30.0,
                 max_batch_bytes: int = 256 * 1024) -> None:
        self._ledger = ledger
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", linger_ms=0,
            max_batch_size=max_batch_bytes, max_request_size=64 * 1024 * 1024,
            request_timeout_ms=int(request_timeout * 1000))
        self._partitions: dict[str, int] = {}
        self._open: dict[tuple[str, int], _OpenBatch] = {}
        self._pending: set[asyncio.Future[Any]] = set()
        self.sent = 0
        self.acknowledged = 0
        self.failed = 0
        self.where: dict[int, tuple[str, int, int]] = {}
        """Input number → (topic, partition, offset) of every acknowledged input."""

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        with contextlib.suppress(KafkaError, OSError, asyncio.TimeoutError):
            await self.flush()
        await _stop_quietly(self._producer.stop())

    async def send(self, topic: str, seq: int, *, headers: Headers = (),
                   value: bytes | None = None, key: bytes | None = None, outputs: int = 1,
                   partition: int | None = None) -> None:
        """Queue input ``seq`` for ``topic``; ``value`` defaults to a JSON payload."""
        if partition is None:
            count = self._partitions.get(topic)
            if count is None:
                count = self._partitions[topic] = len(await self._producer.partitions_for(topic))
            partition = zlib.crc32(b"%d" % seq) % count  # spread, deterministically
        record_headers = [*headers, (LEDGER_HEADER, str(seq).encode())]
        payload = json_payload(seq) if value is None else value
        where = (topic, partition)
        batch = self._open.get(where)
        if batch is None:
            batch = self._open[where] = _OpenBatch(self._producer.create_batch(), *where)
        if batch.builder.append(key=key, value=payload, timestamp=None,
                                headers=record_headers) is None:
            await self._send(batch)
            batch = self._open[where] = _OpenBatch(self._producer.create_batch(), *where)
            batch.builder.append(key=key, value=payload, timestamp=None, headers=record_headers)
        batch.seqs.append(seq)
        batch.outputs.append(outputs)
        self.sent += 1

    async def _send(self, batch: _OpenBatch) -> None:
        batch.builder.close()
        try:
            future = await self._producer.send_batch(batch.builder, batch.topic,
                                                     partition=batch.partition)
        except (KafkaError, OSError):
            self.failed += len(batch.seqs)
            return
        self._pending.add(future)
        future.add_done_callback(partial(self._acknowledged, batch))

    def _acknowledged(self, batch: _OpenBatch, future: asyncio.Future[Any]) -> None:
        self._pending.discard(future)
        if future.cancelled() or future.exception() is not None:
            self.failed += len(batch.seqs)
            return
        base = future.result().offset
        for index, (seq, outputs) in enumerate(zip(batch.seqs, batch.outputs, strict=True)):
            self._ledger.expect(seq, outputs)
            self.where[seq] = (batch.topic, batch.partition, base + index)
        self.acknowledged += len(batch.seqs)

    async def flush(self) -> None:
        """Send every open batch and wait for the broker's answers (errors are counted)."""
        opened, self._open = self._open, {}
        for batch in opened.values():
            await self._send(batch)
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)


class OutputReader(AsyncLifecycle):
    """Reads inboxes and quarantine from the start and feeds the ledger.

    ``inboxes`` maps each inbox (or channel) topic to the slot name of what
    lands there (the recipient). Quarantine copies take their slot from the
    ``membrane-recipient`` header (absent: the whole message). With
    ``numbers``, records of inputs outside that range (an earlier phase of the
    test) count as ``foreign`` instead of going to the ledger. ``partitions``
    limits the partitions read of the topics it names.
    """

    def __init__(self, bootstrap: str, ledger: Ledger, *, inboxes: Mapping[str, str],
                 quarantine: str, on_record: RecordHook | None = None,
                 numbers: range | None = None,
                 partitions: Mapping[str, Sequence[int]] | None = None) -> None:
        self._bootstrap = bootstrap
        self._ledger = ledger
        self._inboxes = dict(inboxes)
        self._quarantine = quarantine
        self._on_record = on_record
        self._numbers = numbers
        self._only = dict(partitions or {})
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self.records = 0
        self.foreign = 0
        self.failure: BaseException | None = None

    async def start(self) -> None:
        topics = [*self._inboxes, self._quarantine]
        counts = await partition_counts(self._bootstrap, topics)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap, enable_auto_commit=False,
            auto_offset_reset="earliest", fetch_max_bytes=32 * 1024 * 1024,
            max_partition_fetch_bytes=8 * 1024 * 1024)
        await self._consumer.start()
        self._consumer.assign([TopicPartition(t, p) for t, n in counts.items()
                               for p in self._only.get(t, range(n))])
        self._task = asyncio.create_task(self._read(), name="ledger-reader")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await _stop_quietly(consumer.stop())

    async def _read(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        while True:
            try:
                batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
            except KafkaError:  # the broker is away (a fault test): keep trying
                await asyncio.sleep(0.2)
                continue
            except Exception as exc:  # surfaced to the test by ``wait``
                self.failure = exc
                return
            for tp, records in batch.items():
                for record in records:
                    self._record(tp.topic, record)

    def _record(self, topic: str, record: Any) -> None:
        self.records += 1
        headers = dict(record.headers)
        raw = headers.get(LEDGER_HEADER)
        if raw is None:
            self.foreign += 1
            return
        seq = int(raw)
        if self._numbers is not None and seq not in self._numbers:
            self.foreign += 1
            return
        version = headers.get(h.POLICY, b"").decode()
        if topic == self._quarantine:
            slot = headers.get(h.RECIPIENT, WHOLE.encode()).decode()
            reason = headers.get(h.REASON, b"").decode()
            self._ledger.observe(seq, slot, quarantined=True, reason=reason, version=version)
        else:
            self._ledger.observe(seq, self._inboxes[topic], quarantined=False, version=version)
        if self._on_record is not None:
            self._on_record(topic, seq, record)

    async def wait(self, done: Callable[[], bool], timeout: float) -> bool:
        """Until ``done()`` is true (True) or ``timeout`` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        while not done():
            if self.failure is not None:
                raise self.failure
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def wait_complete(self, timeout: float) -> bool:
        return await self.wait(lambda: self._ledger.complete, timeout)

    async def settle(self, quiet: float = 1.0, timeout: float = 30.0) -> None:
        """Wait until no record has arrived for ``quiet`` seconds (late duplicates)."""
        deadline = time.monotonic() + timeout
        last, since = self.records, time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            if self.records != last:
                last, since = self.records, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
