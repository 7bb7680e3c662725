"""GCRA, the generic cell rate algorithm (virtual scheduling form), for one key.

A key is allowed ``burst`` units back to back and then one unit every
``interval`` seconds. The only state is the theoretical arrival time (TAT)
of the next unit: a unit arriving at ``now`` conforms when
``now >= TAT - (burst - 1) * interval``, and conforming pushes TAT one
interval further. Equivalent to a token bucket of size ``burst`` refilled
at ``1 / interval`` per second, with one float of state instead of two.
Over any window of ``w`` seconds at most ``burst + w / interval`` units
conform, which is the invariant the rate filter's property test checks.
"""

from __future__ import annotations

EPSILON = 1e-9  # float noise below a nanosecond is not a wait


class Gcra:
    """The scheduling state of one key."""

    __slots__ = ("tat",)

    def __init__(self) -> None:
        self.tat = float("-inf")

    def reserve(self, now: float, interval: float, burst: int, max_wait: float) -> float | None:
        """Seconds until the next unit conforms, reserving that slot.

        0.0 means it conforms now. None means it would have to wait longer than
        ``max_wait``; nothing is reserved then, so a refused unit costs nothing.
        """
        tat = self.tat if self.tat > now else now
        wait = tat - (burst - 1) * interval - now
        if wait <= EPSILON:
            self.tat = tat + interval
            return 0.0
        if wait > max_wait:
            return None
        self.tat = tat + interval
        return wait

    def idle_after(self, now: float) -> bool:
        """True when the key has no debt left: forgetting it changes nothing."""
        return self.tat <= now
