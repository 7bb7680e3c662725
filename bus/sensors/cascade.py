"""Cascade shape: distributions of hop counts and of fan-out per message.

Hops are known when a message is sent (``membrane-hops``: how many times it
already passed membrane). Fan-out, the number of recipients a message was
finally delivered to, is only known after its deliveries, which may be
delayed by filters; so each sent message waits in a bounded FIFO of pending
messages and is settled ``settle_seconds`` after it was sent (or earlier when
the FIFO is full), at which point its delivery count enters the histogram.
Deliveries of a message after it settled still count in ``mean_fanout`` but
not in the histogram. O(1) amortised per message.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from typing import Final

HOP_BUCKETS: Final = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0)
FANOUT_BUCKETS: Final = (0.0, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)


class CountHistogram:
    """A Prometheus-style histogram of counts: per-bucket counts, sum, count."""

    __slots__ = ("bounds", "buckets", "count", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.buckets = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.count = 0
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.buckets[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, cumulative count) pairs in exposition order, +Inf last."""
        out: list[tuple[str, int]] = []
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), self.buckets, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else repr(bound), running))
        return out


class FanoutTracker:
    """Pending messages: deliveries counted per id, settled in the order they were sent.

    The counts are a plain dict of ints and the order a deque of (id, sent
    at) pairs: nothing per message that the garbage collector has to trace.
    """

    __slots__ = ("_capacity", "_counts", "_order", "_settle", "histogram")

    def __init__(self, *, capacity: int, settle_seconds: float) -> None:
        self._counts: dict[str, int] = {}
        self._order: deque[tuple[str, float]] = deque()
        self._capacity = capacity
        self._settle = settle_seconds
        self.histogram = CountHistogram(FANOUT_BUCKETS)

    def __len__(self) -> int:
        return len(self._counts)

    def sent(self, msg_id: str, now: float) -> None:
        counts = self._counts
        if msg_id in counts:  # a redelivered input: keep counting the first
            return
        counts[msg_id] = 0
        self._order.append((msg_id, now))
        if len(counts) > self._capacity:
            self._settle_front()

    def delivered(self, msg_id: str) -> None:
        count = self._counts.get(msg_id)
        if count is not None:
            self._counts[msg_id] = count + 1

    def settle(self, now: float) -> None:
        """Move every message sent more than ``settle_seconds`` ago into the histogram."""
        order = self._order
        while order and now - order[0][1] >= self._settle:
            self._settle_front()

    def _settle_front(self) -> None:
        msg_id, _ = self._order.popleft()
        self.histogram.observe(self._counts.pop(msg_id))
