"""Waiting before a retry: exponential backoff with full jitter.

Shared by every part that reconnects to a broker (the relay, the MQTT
bridge, the foreign-transport lanes).
"""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Exponential backoff with full jitter: the n-th retry waits a uniform
    random time in [0, min(cap, base * 2**n)], so clients that lost the same
    broker do not reconnect in lockstep. ``reset()`` after a success."""

    __slots__ = ("_attempt", "_random", "base", "cap")

    def __init__(
        self, base: float = 0.1, cap: float = 10.0, rand: Callable[[], float] = random.random
    ) -> None:
        if not 0 < base <= cap:
            raise ValueError("backoff needs 0 < base <= cap")
        self.base = base
        self.cap = cap
        self._attempt = 0
        self._random = rand

    @property
    def attempt(self) -> int:
        return self._attempt

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * 2.0 ** min(self._attempt, 62))
        self._attempt += 1
        return ceiling * self._random()

    def reset(self) -> None:
        self._attempt = 0
