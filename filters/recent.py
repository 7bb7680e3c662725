"""A bounded memory of recent keys in two generations of plain dicts.

For tables that only ask "was this seen lately, and when?" (echo digests),
least-recently-used order is more than is needed, and its cost (an entry
object per key, a reordering per touch, every entry tracked by the garbage
collector) is paid on every message. Here new keys go into the *young*
dict; when it holds ``capacity // 2`` keys, it becomes the *old* one and the
previous old one is dropped whole. A lookup reads young, then old.

So memory is at most ``capacity`` keys, every key is remembered for at least
``capacity // 2`` later insertions, a key looked up in the old generation
is copied back into the young one (what is in use stays), and each call is
a dict operation or two. Values are stored as given: callers store times
and compare them with their own window, so forgetting early is the only
error a full table can make (an echo let through, never a message held).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class RecentKeys(Generic[K, V]):
    """At most ``capacity`` keys with their last stored value."""

    __slots__ = ("_generation", "_old", "_young")

    def __init__(self, capacity: int) -> None:
        if capacity < 2:
            raise ValueError("capacity must be at least 2")
        self._generation = capacity // 2
        self._young: dict[K, V] = {}
        self._old: dict[K, V] = {}

    def __len__(self) -> int:
        """Keys held (a key read back from the old generation is counted twice)."""
        return len(self._young) + len(self._old)

    def get(self, key: K) -> V | None:
        value = self._young.get(key)
        if value is not None:
            return value
        value = self._old.get(key)
        if value is not None:
            self.put(key, value)
        return value

    def put(self, key: K, value: V) -> None:
        young = self._young
        if key not in young and len(young) >= self._generation:
            self._old = young
            self._young = young = {}
        young[key] = value
