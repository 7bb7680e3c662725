"""Reads the recipients' inboxes and measures what arrived and how late."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

from bus.bench.workload import read_stamp


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (0 <= q <= 100)."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


class Collector:
    """Consumes ``topics`` (partition 0 each) from the start and records latencies."""

    def __init__(self, bootstrap: str, topics: Sequence[str]) -> None:
        self._bootstrap = bootstrap
        self._topics = list(topics)
        self.latencies_ms: list[float] = []
        self.seen: set[int] = set()
        self.duplicates = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def received(self) -> int:
        return len(self.seen)

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_bytes=16 * 1024 * 1024,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        await self._consumer.start()
        self._consumer.assign([TopicPartition(t, 0) for t in self._topics])
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=100, max_records=10_000)
            now_ns = time.time_ns()
            now = time.monotonic()
            for records in batches.values():
                for record in records:
                    if record.value is None:
                        continue
                    sent_ns, seq = read_stamp(record.value)
                    if seq in self.seen:
                        self.duplicates += 1
                        continue
                    self.seen.add(seq)
                    self.latencies_ms.append((now_ns - sent_ns) / 1e6)
                    if self.first_at is None:
                        self.first_at = now
                    self.last_at = now

    async def wait_for(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.received < count:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    def latency_summary(self) -> dict[str, float]:
        ordered = sorted(self.latencies_ms)
        return {
            "p50_ms": percentile(ordered, 50),
            "p99_ms": percentile(ordered, 99),
            "p999_ms": percentile(ordered, 99.9),
        }
