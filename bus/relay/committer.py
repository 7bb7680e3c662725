"""Committing the tracker's commit points to the consumer group, never blocking reads.

A commit is bounded in time because the client retries some errors for
ever (a partition whose topic vanished with a broker that lost its data).
On failure the points are offered again by the next commit; nothing is lost
meanwhile, since an uncommitted input is only read again. The read loop
starts commits in the background, one at a time.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from bus.engine.commit import OffsetTracker
from bus.engine.tasks import cancel_and_wait

log = logging.getLogger(__name__)

COMMIT_TIMEOUT = 10.0  # seconds


class Committer:
    def __init__(self, consumer: AIOKafkaConsumer, tracker: OffsetTracker) -> None:
        self._consumer = consumer
        self._tracker = tracker
        self._running: asyncio.Task[None] | None = None
        self._failures = 0

    async def commit(self, timeout: float = COMMIT_TIMEOUT) -> None:
        """Commit the points that moved since the last commit, within ``timeout``.

        Only partitions assigned right now: the client refuses a whole commit
        that names one it does not hold, and offered again and again, such a
        point would block every later commit of the others. The partition's
        owner commits it.
        """
        assigned = self._consumer.assignment()
        if not assigned:
            return  # joining the group: the points stay offered until partitions are ours
        points = {key: point for key, point in self._tracker.commit_points().items()
                  if TopicPartition(*key) in assigned}
        if not points:
            return
        offsets = {TopicPartition(t, p): OffsetAndMetadata(o, "") for (t, p), o in points.items()}
        try:
            await asyncio.wait_for(self._consumer.commit(offsets), timeout)
        except asyncio.CancelledError:
            self._tracker.retry(points)  # the next commit takes them
            raise
        except (KafkaError, TimeoutError) as exc:
            self._tracker.retry(points)
            self._failures += 1
            if self._failures in (1, 10) or self._failures % 100 == 0:
                log.warning("committing %d partitions failed %d time(s) in a row (%s); "
                            "retrying", len(offsets), self._failures, type(exc).__name__)
        else:
            self._failures = 0

    def in_background(self) -> None:
        """Start a commit unless one is still running."""
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self.commit(), name="membrane-commit")

    async def stop_background(self) -> None:
        """Cancel a running background commit (its points stay offered)."""
        task, self._running = self._running, None
        await cancel_and_wait(task)
