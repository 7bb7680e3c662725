"""Reads the recipients' inboxes and measures what arrived, when, and how late.

A run is split into phases, each a range of sequence numbers (warm-up,
fixed load, saturation ...). The collector keeps, per phase, how many
distinct messages arrived, the first and last arrival times and every
latency (receive wall clock minus the stamp in the payload), and counts
duplicates across the run with one bit per sequence number.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

from bus.bench.workload import read_stamp
from bus.engine.tasks import cancel_and_wait
from bus.lifecycle import AsyncLifecycle


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (0 <= q <= 100)."""
    if not sorted_values:
        return float("nan")
    rank = min(len(sorted_values), max(1, math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


class Phase:
    """Messages ``first`` .. ``end - 1`` of a run, as they arrive."""

    __slots__ = ("arrival_times", "end", "first", "first_at", "last_at", "latencies_ms",
                 "received")

    def __init__(self, first: int, end: int) -> None:
        self.first = first
        self.end = end
        self.received = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.latencies_ms: list[float] = []
        self.arrival_times: list[float] = []

    @property
    def expected(self) -> int:
        return self.end - self.first

    @property
    def complete(self) -> bool:
        return self.received >= self.expected

    def arrived_after(self, moment: float) -> int:
        """How many arrivals were later than ``moment`` (monotonic clock)."""
        return sum(1 for at in self.arrival_times if at > moment)

    def latency_summary(self) -> dict[str, float]:
        ordered = sorted(self.latencies_ms)
        return {
            "p50_ms": percentile(ordered, 50),
            "p99_ms": percentile(ordered, 99),
            "p999_ms": percentile(ordered, 99.9),
        }


class Collector(AsyncLifecycle):
    """Consumes every partition of ``topics`` from the start, for the whole run."""

    def __init__(self, bootstrap: str, topics: Sequence[str]) -> None:
        self._bootstrap = bootstrap
        self._topics = list(topics)
        self._phases: list[Phase] = []
        self._seen = bytearray()
        self.duplicates = 0
        self.stray = 0  # arrivals outside every phase (e.g. late copies of an old phase)
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    def phase(self, first: int, count: int) -> Phase:
        """Start counting messages ``first`` .. ``first + count - 1``."""
        phase = Phase(first, first + count)
        self._phases.append(phase)
        end = first + count
        if len(self._seen) < end:
            self._seen.extend(bytes(end - len(self._seen)))
        return phase

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=10,
            fetch_max_bytes=32 * 1024 * 1024,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        await self._consumer.start()
        await self._consumer.topics()  # fetches metadata: the inboxes' partition counts
        self._consumer.assign([
            TopicPartition(topic, partition)
            for topic in self._topics
            for partition in sorted(self._consumer.partitions_for_topic(topic) or {0})
        ])
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=100, max_records=20_000)
            now_ns = time.time_ns()
            now = time.monotonic()
            for records in batches.values():
                for record in records:
                    if record.value is not None:
                        self._arrived(*read_stamp(record.value), now_ns, now)

    def _arrived(self, sent_ns: int, seq: int, now_ns: int, now: float) -> None:
        seen = self._seen
        if seq >= len(seen):
            self.stray += 1
            return
        if seen[seq]:
            self.duplicates += 1
            return
        seen[seq] = 1
        for phase in reversed(self._phases):
            if phase.first <= seq < phase.end:
                phase.received += 1
                phase.latencies_ms.append((now_ns - sent_ns) / 1e6)
                phase.arrival_times.append(now)
                if phase.first_at is None:
                    phase.first_at = now
                phase.last_at = now
                return
        self.stray += 1

    async def wait_for(
        self, phase: Phase, timeout: float, check: Callable[[], None] = lambda: None
    ) -> bool:
        """True once every message of ``phase`` arrived; False after ``timeout``.
        ``check`` runs while waiting and may raise (e.g. a relay under test died)."""
        deadline = time.monotonic() + timeout
        while not phase.complete:
            if self._task is not None and self._task.done():
                self._task.result()  # the consumer failed: say why
            check()
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None


