"""Ping-pong detection on edges: long runs of strictly alternating messages.

For each unordered pair {a, b} the table remembers who sent last, when, and
the length of the current alternation run. A delivery b->a right after a->b
extends the run; a second message in the same direction, or a gap longer
than ``gap_seconds``, starts a new run of 1. A delivery counts as a
ping-pong exchange when its run has reached ``min_run`` messages
(a->b->a->b is a run of 4). O(1) per delivery; at most ``capacity`` pairs
are remembered, the least recently active evicted first.
"""

from __future__ import annotations

from collections import OrderedDict


class EdgeRun:
    __slots__ = ("last_at", "last_sender", "run")

    def __init__(self, sender: str, now: float) -> None:
        self.last_sender = sender
        self.last_at = now
        self.run = 1


class PingPongTable:
    __slots__ = ("_capacity", "_edges", "_gap", "_min_run")

    def __init__(self, *, capacity: int, min_run: int, gap_seconds: float) -> None:
        self._edges: OrderedDict[tuple[str, str], EdgeRun] = OrderedDict()
        self._capacity = capacity
        self._min_run = min_run
        self._gap = gap_seconds

    def __len__(self) -> int:
        return len(self._edges)

    def observe(self, sender: str, recipient: str, now: float) -> bool:
        """Record sender->recipient; True when it is a ping-pong exchange."""
        if sender == recipient:
            return False
        key = (sender, recipient) if sender < recipient else (recipient, sender)
        edge = self._edges.get(key)
        if edge is None:
            self._edges[key] = EdgeRun(sender, now)
            if len(self._edges) > self._capacity:
                self._edges.popitem(last=False)
            return False
        self._edges.move_to_end(key)
        alternates = edge.last_sender != sender and now - edge.last_at <= self._gap
        edge.run = edge.run + 1 if alternates else 1
        edge.last_sender = sender
        edge.last_at = now
        return edge.run >= self._min_run
