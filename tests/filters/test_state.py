"""Bounded per-key state: capacity eviction and idle expiry."""

from __future__ import annotations

import pytest

from filters.state import KeyedState


def test_the_least_recently_touched_key_is_evicted_at_capacity() -> None:
    state: KeyedState[str, int] = KeyedState(max_keys=2, idle=100.0)
    state.put("a", 0.0, 1)
    state.put("b", 1.0, 2)
    assert state.get("a", 2.0) == 1  # touching "a" makes "b" the oldest
    state.put("c", 3.0, 3)
    assert "b" not in state and "a" in state and "c" in state
    assert state.evictions == 1 and len(state) == 2


def test_idle_keys_expire_as_other_keys_are_touched() -> None:
    state: KeyedState[str, int] = KeyedState(max_keys=100, idle=10.0)
    for n, key in enumerate("abcd"):
        state.put(key, float(n), n)
    assert state.get("d", 12.5) == 3  # "a" (0.0) and "b" (1.0) are idle for more than 10 s
    assert list(state.keys()) == ["c", "d"]
    assert state.get("c", 30.0) is None  # idle itself: gone, not returned


def test_put_returns_what_it_replaced_and_get_or_create_builds_once() -> None:
    state: KeyedState[str, list[int]] = KeyedState(max_keys=4, idle=5.0)
    assert state.put("k", 0.0, [1]) is None
    assert state.put("k", 1.0, [2]) == [1]
    made = state.get_or_create("n", 1.0, list)
    made.append(7)
    assert state.get_or_create("n", 2.0, list) == [7]
    assert state.peek("n") == [7] and state.pop("n") == [7] and state.peek("n") is None


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        KeyedState(max_keys=0, idle=1.0)
