"""The delay queue: where messages held by a filter wait for their release time.

Algorithm: one FIFO per flow (a flow is whatever the caller groups by, e.g.
the (sender, recipient) pair), plus two structures over the flows:

- a min-heap of *waiting* flows keyed by the release time of their head item;
- a round-robin ring of *due* flows whose head item may leave now.

``pop_due`` first moves every flow whose head is due from the heap to the
ring, then serves the ring one item per flow per turn, as FQ-CoDel serves its
sub-queues: a hot pair with a thousand held messages gets one slot per round,
the same as a quiet pair with one, so it cannot starve the others. Within a
flow, items leave in push order: an item whose own release time has passed
still waits behind an earlier item of its flow (per-pair order is kept).

Capacity is bounded twice: in total, and per flow, so one flow cannot fill
the queue. ``push`` returns False instead of growing; the caller quarantines
the message. Each flow lives in exactly one of heap or ring, so every
operation is O(log F) for F flows, and no stale heap entries ever exist.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class _Held(Generic[T]):
    __slots__ = ("item", "release_at")

    def __init__(self, item: T, release_at: float) -> None:
        self.item = item
        self.release_at = release_at


class DelayQueue(Generic[T]):
    """A bounded, time-ordered, per-flow fair queue of held items."""

    __slots__ = ("_capacity", "_flows", "_per_flow_capacity", "_ring", "_seq", "_size", "_waiting")

    def __init__(self, capacity: int = 100_000, per_flow_capacity: int = 1_000) -> None:
        if capacity < 1 or per_flow_capacity < 1:
            raise ValueError("capacities must be at least 1")
        self._capacity = capacity
        self._per_flow_capacity = min(per_flow_capacity, capacity)
        self._flows: dict[Hashable, deque[_Held[T]]] = {}
        # (head release time, tie-breaker, flow): the sequence number keeps
        # equal times in arrival order and means flows are never compared.
        self._waiting: list[tuple[float, int, Hashable]] = []
        self._ring: deque[Hashable] = deque()
        self._seq = itertools.count()
        self._size = 0

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def per_flow_capacity(self) -> int:
        return self._per_flow_capacity

    def __len__(self) -> int:
        return self._size

    def flow_count(self) -> int:
        return len(self._flows)

    def held_in(self, flow: Hashable) -> int:
        queue = self._flows.get(flow)
        return len(queue) if queue is not None else 0

    def holds(self, flow: Hashable) -> bool:
        """True while ``flow`` has held items: a later item of that flow must
        queue behind them to keep the flow's order."""
        return flow in self._flows

    def push(self, flow: Hashable, item: T, release_at: float) -> bool:
        """Hold ``item`` until ``release_at``; False when the queue or the flow is full."""
        if self._size >= self._capacity:
            return False
        queue = self._flows.get(flow)
        if queue is None:
            queue = deque()
            self._flows[flow] = queue
            heapq.heappush(self._waiting, (release_at, next(self._seq), flow))
        elif len(queue) >= self._per_flow_capacity:
            return False
        queue.append(_Held(item, release_at))
        self._size += 1
        return True

    def next_due(self) -> float | None:
        """The earliest time at which ``pop_due`` will return something, or None if empty."""
        if self._ring:
            return self._flows[self._ring[0]][0].release_at
        if self._waiting:
            return self._waiting[0][0]
        return None

    def pop_due(self, now: float, limit: int = 1_000) -> list[tuple[Hashable, T]]:
        """Up to ``limit`` items whose time has come: FIFO per flow, round-robin across flows."""
        waiting = self._waiting
        ring = self._ring
        while waiting and waiting[0][0] <= now:
            ring.append(heapq.heappop(waiting)[2])
        released: list[tuple[Hashable, T]] = []
        while ring and len(released) < limit:
            flow = ring.popleft()
            queue = self._flows[flow]
            held = queue.popleft()
            released.append((flow, held.item))
            if not queue:
                del self._flows[flow]
            elif queue[0].release_at <= now:
                ring.append(flow)
            else:
                heapq.heappush(waiting, (queue[0].release_at, next(self._seq), flow))
        self._size -= len(released)
        return released

    def drain(self) -> list[tuple[Hashable, T]]:
        """Remove and return everything held, in per-flow order (for shutdown)."""
        out: list[tuple[Hashable, T]] = []
        for flow, queue in self._flows.items():
            out.extend((flow, held.item) for held in queue)
        self._flows.clear()
        self._waiting.clear()
        self._ring.clear()
        self._size = 0
        return out
