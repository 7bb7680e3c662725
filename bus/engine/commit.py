"""Which input offsets may be committed: the highest contiguous completed offset.

Every input record gets a ``Ticket`` that counts the outputs it still waits
for (forwards, quarantine copies, held messages released later). A ticket is
complete when that count drops to zero. Per partition, tickets sit in a FIFO
in read order; when the head is complete it is popped, and the commit point
becomes its offset + 1. So a partition's commit point never passes an input
with an unacknowledged output, however the acknowledgements interleave.
Amortised O(1) per ticket; memory is bounded by the in-flight limit the
transport enforces.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterable


class Ticket:
    """One input record in flight. Hashable by identity (the engine keys on it)."""

    __slots__ = ("_progress", "offset", "partition", "pending", "read_at", "sealed", "timestamp",
                 "topic")

    def __init__(self, progress: PartitionProgress, offset: int, timestamp: float) -> None:
        self._progress = progress
        self.topic = progress.topic
        self.partition = progress.partition
        self.offset = offset
        self.timestamp = timestamp  # the record's, wall clock
        self.read_at = time.monotonic()  # when this process read it
        # Starts at one: the reader's own hold, dropped by ``seal`` once it has
        # registered every output, so the ticket cannot complete half-way.
        self.pending = 1
        self.sealed = False

    @property
    def abandoned(self) -> bool:
        """True once its partition was revoked: its outputs are no longer wanted."""
        return not self._progress.active

    @property
    def complete(self) -> bool:
        return self.pending == 0

    def expect(self, outputs: int) -> None:
        self.pending += outputs

    def seal(self) -> None:
        """The reader has registered every output of this input."""
        self.sealed = True
        self.done()

    def done(self) -> None:
        """One output is durable (or was found to be a duplicate)."""
        self.pending -= 1
        if self.pending == 0:
            self._progress.completed()


class PartitionProgress:
    """Tickets of one partition in read order, and its commit point."""

    __slots__ = ("_on_complete", "_tickets", "active", "commit_point", "partition", "topic")

    def __init__(self, topic: str, partition: int,
                 on_complete: Callable[[PartitionProgress, int], None]) -> None:
        self.topic = topic
        self.partition = partition
        self.active = True
        self.commit_point: int | None = None
        self._tickets: deque[Ticket] = deque()
        self._on_complete = on_complete

    def __len__(self) -> int:
        return len(self._tickets)

    def open(self, offset: int, timestamp: float = 0.0) -> Ticket:
        ticket = Ticket(self, offset, timestamp)
        self._tickets.append(ticket)
        return ticket

    @property
    def next_offset(self) -> int | None:
        """The offset after the last input opened here (None before the first)."""
        return self._tickets[-1].offset + 1 if self._tickets else self.commit_point

    def completed(self) -> None:
        if not self.active:
            return
        tickets = self._tickets
        popped = 0
        while tickets and tickets[0].pending == 0:
            self.commit_point = tickets.popleft().offset + 1
            popped += 1
        if popped:
            self._on_complete(self, popped)


PartitionKey = tuple[str, int]


class OffsetTracker:
    """Progress of every partition this process reads, and the commit points due."""

    def __init__(self) -> None:
        self._partitions: dict[PartitionKey, PartitionProgress] = {}
        self._dirty: set[PartitionKey] = set()
        self._in_flight = 0
        self._progress = asyncio.Event()

    @property
    def in_flight(self) -> int:
        """Inputs read and not yet complete."""
        return self._in_flight

    def open(self, topic: str, partition: int, offset: int, timestamp: float = 0.0) -> Ticket:
        """A ticket for the input at ``offset``; inputs of a partition arrive in order."""
        key = (topic, partition)
        progress = self._partitions.get(key)
        if progress is None:
            progress = PartitionProgress(topic, partition, self._on_complete)
            self._partitions[key] = progress
        self._in_flight += 1
        return progress.open(offset, timestamp)

    def _on_complete(self, progress: PartitionProgress, count: int) -> None:
        self._in_flight -= count
        self._dirty.add((progress.topic, progress.partition))
        self._progress.set()

    def next_offset(self, topic: str, partition: int) -> int | None:
        """The offset after the last input opened in this partition, if any was."""
        progress = self._partitions.get((topic, partition))
        return progress.next_offset if progress is not None else None

    def commit_points(self) -> dict[PartitionKey, int]:
        """Partitions whose commit point moved since the last call, with that point."""
        points: dict[PartitionKey, int] = {}
        for key in self._dirty:
            progress = self._partitions.get(key)
            if progress is not None and progress.commit_point is not None:
                points[key] = progress.commit_point
        self._dirty.clear()
        return points

    def retry(self, points: Iterable[PartitionKey]) -> None:
        """Offer these partitions' commit points again (their commit failed)."""
        self._dirty.update(k for k in points if k in self._partitions)

    def in_flight_of(self, keys: Iterable[PartitionKey]) -> int:
        """Inputs not yet complete in these partitions."""
        return sum(len(self._partitions[k]) for k in keys if k in self._partitions)

    def abandon(self, keys: Iterable[PartitionKey]) -> None:
        """Forget partitions (revoked): their tickets' completions are ignored."""
        for key in keys:
            progress = self._partitions.pop(key, None)
            if progress is not None:
                progress.active = False
                self._in_flight -= len(progress)
            self._dirty.discard(key)

    def abandon_all(self) -> None:
        self.abandon(list(self._partitions))

    async def wait_progress(self, timeout: float) -> None:
        """Return when some ticket completes, or after ``timeout`` seconds."""
        self._progress.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._progress.wait(), timeout)
