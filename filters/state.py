"""Bounded per-key state for filters: least-recently-used, with idle expiry.

Every filter keeps state per sender, pair or group, and agent ids come from
the outside, so every such map must be bounded. ``KeyedState`` keeps entries
in least-recently-touched order (an ``OrderedDict``): touching moves a key to
the end, the capacity evicts from the front, and each touch also expires at
most a couple of idle entries from the front, so expiry costs O(1) amortised
and no sweeper task is needed. The front is the least recently touched
entry, so until its idle deadline nothing can expire: that deadline is
remembered, and a touch before it skips the expiry check with one
comparison.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

EXPIRE_PER_TOUCH = 2


class _Entry(Generic[V]):
    __slots__ = ("touched", "value")

    def __init__(self, value: V, touched: float) -> None:
        self.value = value
        self.touched = touched


class KeyedState(Generic[K, V]):
    """At most ``max_keys`` entries; an entry untouched for ``idle`` seconds is dropped."""

    __slots__ = ("_entries", "_expire_after", "_idle", "_max_keys", "evictions")

    def __init__(self, max_keys: int, idle: float) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._max_keys = max_keys
        self._idle = idle
        self._entries: OrderedDict[K, _Entry[V]] = OrderedDict()
        # No entry can be idle too long before this time (the front's deadline
        # when last looked at; touching or removing the front only delays it).
        self._expire_after = float("-inf")
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def keys(self) -> Iterator[K]:
        return iter(self._entries)

    def peek(self, key: K) -> V | None:
        """The value without touching it (no reordering, no expiry)."""
        entry = self._entries.get(key)
        return entry.value if entry is not None else None

    def get(self, key: K, now: float) -> V | None:
        """The value, touched, or None if absent or idle too long."""
        if now > self._expire_after:
            self._expire(now)
        entries = self._entries
        entry = entries.get(key)
        if entry is None:
            return None
        entry.touched = now
        entries.move_to_end(key)
        return entry.value

    def get_or_create(self, key: K, now: float, create: Callable[[], V]) -> V:
        # ``get`` and ``_insert`` written out: this runs for every message.
        if now > self._expire_after:
            self._expire(now)
        entries = self._entries
        entry = entries.get(key)
        if entry is not None:
            entry.touched = now
            entries.move_to_end(key)
            return entry.value
        value = create()
        self._insert(key, value, now)
        return value

    def put(self, key: K, now: float, value: V) -> V | None:
        """Store ``value`` under ``key``, touched; return the value it replaced."""
        if now > self._expire_after:
            self._expire(now)
        entries = self._entries
        entry = entries.get(key)
        if entry is not None:
            previous = entry.value
            entry.value = value
            entry.touched = now
            entries.move_to_end(key)
            return previous
        self._insert(key, value, now)
        return None

    def pop(self, key: K) -> V | None:
        entry = self._entries.pop(key, None)
        return entry.value if entry is not None else None

    def _insert(self, key: K, value: V, now: float) -> None:
        self._entries[key] = _Entry(value, now)
        if len(self._entries) > self._max_keys:
            self._entries.popitem(last=False)
            self.evictions += 1

    def _expire(self, now: float) -> None:
        """Drop up to ``EXPIRE_PER_TOUCH`` idle entries from the front (callers
        skip this while ``now`` has not passed ``_expire_after``)."""
        entries = self._entries
        for _ in range(EXPIRE_PER_TOUCH):
            if not entries:
                return
            oldest = next(iter(entries.values()))
            if now - oldest.touched <= self._idle:
                self._expire_after = oldest.touched + self._idle
                return
            entries.popitem(last=False)
            self.evictions += 1
