"""A sliding-window event counter in O(1) time and memory.

Algorithm: the sliding-window approximation with two fixed buckets. Events
are counted in the current bucket of ``window`` seconds; the estimate for
the last ``window`` seconds is the current count plus the previous bucket's
count weighted by how much of it still overlaps the sliding window. Exact
when events are spread evenly; never more than one bucket off.
"""

from __future__ import annotations

import math


class SlidingCount:
    __slots__ = ("_current", "_previous", "_start", "_window")

    def __init__(self, window: float) -> None:
        if not window > 0:
            raise ValueError("window must be greater than 0 seconds")
        self._window = window
        self._start: float | None = None
        self._current = 0.0
        self._previous = 0.0

    def _roll(self, now: float) -> float:
        """Move the buckets up to ``now``; the time since the current bucket began."""
        if self._start is None:
            self._start = now
            return 0.0
        elapsed = now - self._start
        if elapsed >= self._window:
            buckets = math.floor(elapsed / self._window)
            self._previous = self._current if buckets == 1 else 0.0
            self._current = 0.0
            self._start += buckets * self._window
            elapsed -= buckets * self._window
        return elapsed if elapsed > 0.0 else 0.0  # the clock read before the bucket began

    def value(self, now: float) -> float:
        elapsed = self._roll(now)
        overlap = 1.0 - elapsed / self._window
        return self._current + self._previous * overlap

    def add(self, now: float, amount: float = 1.0) -> float:
        """Count ``amount`` events at ``now``; return the new estimate."""
        elapsed = self._roll(now)
        self._current += amount
        return self._current + self._previous * (1.0 - elapsed / self._window)
