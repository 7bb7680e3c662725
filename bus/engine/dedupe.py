"""The dedupe window: outputs produced recently, so a redelivered input is not written twice.

An output is identified by ``(destination topic, sender, membrane-id,
recipient)`` — the recipient only for quarantine copies, where one topic
receives a copy per refused recipient. The window keeps the 64-bit hashes of
the last ``capacity`` keys: a set for O(1) membership and a ring (deque) for
FIFO eviction. Memory is about 100 bytes per key, whatever the ids look like.

A key enters the window when its output is handed to the producer and leaves
it again if the broker refuses the output, so a failed write is retried
rather than mistaken for a duplicate. After a restart the window is refilled
from the tails of the output topics (see ``bus.relay.seeder``); keys are
hashes of the header values, so they match whichever process wrote them.
"""

from __future__ import annotations

from collections import deque


def output_key(destination: str, sender: str, msg_id: str, recipient: str) -> int:
    """The window key of one output (pass ``""`` as recipient for forwards)."""
    return hash((destination, sender, msg_id, recipient))


class DedupeWindow:
    """A bounded set of recent output keys with first-in, first-out eviction."""

    __slots__ = ("_capacity", "_keys", "_order")

    def __init__(self, capacity: int = 200_000) -> None:
        if capacity < 1:
            raise ValueError("the dedupe window needs a capacity of at least 1")
        self._capacity = capacity
        self._keys: set[int] = set()
        self._order: deque[int] = deque()

    @property
    def capacity(self) -> int:
        return self._capacity

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: int) -> bool:
        return key in self._keys

    def add(self, key: int) -> bool:
        """Remember ``key``; False if it was already there (a duplicate)."""
        keys = self._keys
        if key in keys:
            return False
        keys.add(key)
        order = self._order
        order.append(key)
        if len(order) > self._capacity:
            # The evicted key may have been discarded and re-added since; then
            # it leaves a little early, which only shortens its memory.
            keys.discard(order.popleft())
        return True

    def discard(self, key: int) -> None:
        """Forget ``key`` (its output failed); its ring slot ages out on its own."""
        self._keys.discard(key)
