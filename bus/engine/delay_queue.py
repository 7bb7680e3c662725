"""The delay queue: where messages held by a filter wait for their release time.

Algorithm: one FIFO per flow (a flow is whatever the caller groups by, e.g.
the (sender, recipient) pair), plus two structures over the flows:

- a min-heap of *waiting* flows keyed by the release time of their head item;
- a round-robin ring of *due* flows whose head item may leave now.

``pop_due`` first moves every flow whose head is due from the heap to the
ring, then serves the ring one item per flow per call, as FQ-CoDel serves its
sub-queues: a hot pair with a thousand held messages gets one slot per round,
the same as a quiet pair with one, so it cannot starve the others. Within a
flow, items leave in push order: an item whose own release time has passed
still waits behind an earlier item of its flow (per-pair order is kept).

Capacity is bounded twice: in total, and per flow, so one flow cannot fill
the queue. ``push`` returns False instead of growing; the caller quarantines
the message. Each flow has one live place, in the heap or in the ring, so every
operation is O(log F) for F flows. ``requeue`` puts an item an engine
released back at the head of its flow (when a later filter delays it again),
so per-flow order survives a second delay.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


IN_RING = -1


class _Held(Generic[T]):
    __slots__ = ("item", "release_at")

    def __init__(self, item: T, release_at: float) -> None:
        self.item = item
        self.release_at = release_at


class _Flow(Generic[T]):
    """A flow's FIFO and where it is scheduled: the sequence number of its live
    heap entry, or ``IN_RING``. Heap entries with another number are stale."""

    __slots__ = ("items", "token")

    def __init__(self) -> None:
        self.items: deque[_Held[T]] = deque()
        self.token = IN_RING


class DelayQueue(Generic[T]):
    """A bounded, time-ordered, per-flow fair queue of held items."""

    __slots__ = ("_capacity", "_flows", "_per_flow_capacity", "_ring", "_seq", "_size", "_waiting")

    def __init__(self, capacity: int = 100_000, per_flow_capacity: int = 1_000) -> None:
        if capacity < 1 or per_flow_capacity < 1:
            raise ValueError("capacities must be at least 1")
        self._capacity = capacity
        self._per_flow_capacity = min(per_flow_capacity, capacity)
        self._flows: dict[Hashable, _Flow[T]] = {}
        # (head release time, sequence number, flow): the sequence number keeps
        # equal times in arrival order, means flows are never compared, and
        # tells a flow's live entry from a stale one.
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
        state = self._flows.get(flow)
        return len(state.items) if state is not None else 0

    def holds(self, flow: Hashable) -> bool:
        """True while ``flow`` has held items: a later item of that flow must
        queue behind them to keep the flow's order."""
        return flow in self._flows

    def push(self, flow: Hashable, item: T, release_at: float) -> bool:
        """Hold ``item`` until ``release_at``; False when the queue or the flow is full."""
        if self._size >= self._capacity:
            return False
        state = self._flows.get(flow)
        if state is None:
            state = self._flows[flow] = _Flow()
            self._schedule(flow, state, release_at)
        elif len(state.items) >= self._per_flow_capacity:
            return False
        state.items.append(_Held(item, release_at))
        self._size += 1
        return True

    def requeue(self, flow: Hashable, item: T, release_at: float) -> None:
        """Hold again, at the head of its flow, an item ``pop_due`` just released.

        For an item that a later filter delays once more: it keeps its place
        before the items of its flow that queued behind it. Never refused, since
        it only returns what was just taken out; so the queue may exceed its
        capacity by at most one released batch.
        """
        state = self._flows.get(flow)
        if state is None:
            state = self._flows[flow] = _Flow()
        state.items.appendleft(_Held(item, release_at))
        self._size += 1
        if state.token != IN_RING or len(state.items) == 1:
            self._schedule(flow, state, release_at)  # any older heap entry is now stale

    def next_due(self) -> float | None:
        """The earliest time at which ``pop_due`` may return something, or None if empty.

        May be early (never late) after a ``requeue``; ``pop_due`` then returns nothing.
        """
        if self._ring:
            return self._flows[self._ring[0]].items[0].release_at
        if self._waiting:
            return self._waiting[0][0]
        return None

    def pop_due(self, now: float, limit: int = 1_000) -> list[tuple[Hashable, T]]:
        """Up to ``limit`` items whose time has come, at most one per flow.

        FIFO within a flow, round-robin across flows. One per flow per call
        means the caller can handle (and ``requeue``) an item before the next
        of its flow comes out; call again while it returns a full round.
        """
        waiting = self._waiting
        ring = self._ring
        flows = self._flows
        while waiting and waiting[0][0] <= now:
            _, token, flow = heapq.heappop(waiting)
            state = flows.get(flow)
            if state is not None and state.token == token:
                state.token = IN_RING
                ring.append(flow)
        released: list[tuple[Hashable, T]] = []
        served_again: list[Hashable] = []
        while ring and len(released) < limit:
            flow = ring.popleft()
            state = flows[flow]
            items = state.items
            if items[0].release_at > now:  # a requeued head that is not due yet
                self._schedule(flow, state, items[0].release_at)
                continue
            released.append((flow, items.popleft().item))
            if not items:
                del flows[flow]
            elif items[0].release_at <= now:
                served_again.append(flow)
            else:
                self._schedule(flow, state, items[0].release_at)
        ring.extend(served_again)
        self._size -= len(released)
        return released

    def drain(self) -> list[tuple[Hashable, T]]:
        """Remove and return everything held, in per-flow order (for shutdown)."""
        out: list[tuple[Hashable, T]] = []
        for flow, state in self._flows.items():
            out.extend((flow, held.item) for held in state.items)
        self._flows.clear()
        self._waiting.clear()
        self._ring.clear()
        self._size = 0
        return out

    def _schedule(self, flow: Hashable, state: _Flow[T], at: float) -> None:
        state.token = next(self._seq)
        heapq.heappush(self._waiting, (at, state.token, flow))
