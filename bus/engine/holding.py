"""Held messages: the delay queue plus the bookkeeping the engine needs around it.

Besides the queue itself this keeps (a) how many messages of each input are
held, so a transport never acknowledges an input with outcomes still to come,
and (b) the flows being released right now: a message of such a flow that
arrives mid-release (while a filter awaits) is deferred and queued when the
release round ends, behind whatever of its flow went back into the queue, so
per-pair order holds even when a filter delays a released message again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable

from bus.engine.delay_queue import DelayQueue
from bus.engine.held import HeldMessage


class Holding:
    """Bounded store of held messages, keyed by flow, counted by origin."""

    __slots__ = ("_by_origin", "_deferred", "_queue", "_releasing", "wakeup")

    def __init__(self, capacity: int, per_flow_capacity: int) -> None:
        self._queue: DelayQueue[HeldMessage] = DelayQueue(capacity, per_flow_capacity)
        self._by_origin: dict[Hashable, int] = {}
        self._releasing: set[Hashable] = set()
        self._deferred: list[tuple[Hashable, HeldMessage]] = []
        self.wakeup = asyncio.Event()
        """Set when a message is held with an earlier release time than any before."""

    def __len__(self) -> int:
        return len(self._queue) + len(self._deferred)

    @property
    def capacity(self) -> int:
        return self._queue.capacity

    @property
    def per_flow_capacity(self) -> int:
        return self._queue.per_flow_capacity

    def next_due(self) -> float | None:
        return self._queue.next_due()

    def pending_for(self, origin: Hashable) -> int:
        return self._by_origin.get(origin, 0)

    def busy(self, flow: Hashable) -> bool:
        """True when a new message of ``flow`` must queue behind held ones."""
        return flow in self._releasing or self._queue.holds(flow)

    def hold(self, flow: Hashable, held: HeldMessage, release_at: float) -> bool:
        """Hold until ``release_at``; False when the queue or the flow is full."""
        if not self._queue.push(flow, held, release_at):
            return False
        self._count(held.origin, 1)
        if self._queue.next_due() == release_at:
            self.wakeup.set()
        return True

    def hold_behind(self, flow: Hashable, held: HeldMessage, now: float) -> bool:
        """Queue behind the flow's held messages (it runs its chain when released)."""
        if flow in self._releasing:
            self._deferred.append((flow, held))
            self._count(held.origin, 1)
            return True
        return self.hold(flow, held, now)

    def begin_release(self, now: float, limit: int) -> list[tuple[Hashable, HeldMessage]]:
        """One round: at most one due message per flow, in flow order. Those flows
        stay busy until ``end_release``."""
        due = self._queue.pop_due(now, limit)
        for flow, held in due:
            self._releasing.add(flow)
            self._count(held.origin, -1)
        return due

    def requeue(self, flow: Hashable, held: HeldMessage, release_at: float) -> None:
        """Hold a just-released message again, ahead of the rest of its flow."""
        self._queue.requeue(flow, held, release_at)
        self._count(held.origin, 1)
        if self._queue.next_due() == release_at:
            self.wakeup.set()

    def end_release(self, now: float) -> list[HeldMessage]:
        """Queue the messages deferred during the round; returns those that did not fit."""
        self._releasing.clear()
        deferred, self._deferred = self._deferred, []
        rejected: list[HeldMessage] = []
        for flow, held in deferred:
            self._count(held.origin, -1)
            if not self.hold(flow, held, now):
                rejected.append(held)
        return rejected

    def discard(self) -> int:
        """Forget everything held; returns how many messages that was."""
        dropped = len(self._queue.drain()) + len(self._deferred)
        self._deferred.clear()
        self._by_origin.clear()
        return dropped

    def _count(self, origin: Hashable, change: int) -> None:
        left = self._by_origin.get(origin, 0) + change
        if left > 0:
            self._by_origin[origin] = left
        else:
            self._by_origin.pop(origin, None)
