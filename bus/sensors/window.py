"""Sliding-window event counts in fixed-length intervals (a bucketed ring).

The window is ``length`` buckets of one interval each: the current, still
open interval and the ``length - 1`` before it. Each bucket holds one count
per event field; ``totals`` holds the sum over the ring for each field, kept
up to date as buckets are added to and expired, so reading a windowed count
is O(1) and recording an event is O(1). Rotating the ring costs O(fields)
per elapsed interval, however many events there were, and never more than
``length`` rotations for one gap in time.
"""

from __future__ import annotations


class WindowCounts:
    __slots__ = ("_base", "_buckets", "_fields", "_length", "_position", "cumulative", "totals")

    def __init__(self, length: int, fields: int) -> None:
        if length < 1 or fields < 1:
            raise ValueError("a window needs at least one bucket and one field")
        self._length = length
        self._fields = fields
        self._buckets = [0] * (length * fields)
        self._position = 0
        self._base = 0  # index of the current bucket's first field
        self.totals = [0] * fields
        self.cumulative = [0] * fields

    def add(self, field: int, amount: int = 1) -> None:
        """Count ``amount`` events of ``field`` in the current interval."""
        self._buckets[self._base + field] += amount
        self.totals[field] += amount
        self.cumulative[field] += amount

    def current(self, field: int) -> int:
        """The count of ``field`` in the open interval so far."""
        return self._buckets[self._base + field]

    def rotate(self, intervals: int) -> None:
        """Close the open interval and open ``intervals`` new ones (the last
        of them becomes current); the oldest buckets fall out of the window."""
        fields = self._fields
        for _ in range(min(intervals, self._length)):
            self._position = (self._position + 1) % self._length
            base = self._position * fields
            for field in range(fields):
                self.totals[field] -= self._buckets[base + field]
                self._buckets[base + field] = 0
        self._base = self._position * fields
