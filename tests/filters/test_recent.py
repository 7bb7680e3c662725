"""RecentKeys: bounded by its capacity, remembers what is in use."""

from __future__ import annotations

import pytest

from filters.recent import RecentKeys


def test_a_key_is_remembered_until_half_the_capacity_of_newer_keys_came() -> None:
    table: RecentKeys[int, str] = RecentKeys(10)
    table.put(0, "first")
    for key in range(1, 5):  # four newer keys: one generation not yet full
        table.put(key, "later")
    assert table.get(0) == "first"


def test_memory_never_exceeds_the_capacity() -> None:
    table: RecentKeys[int, int] = RecentKeys(100)
    for key in range(10_000):
        table.put(key, key)
        assert len(table) <= 100
    assert table.get(0) is None  # long gone
    assert table.get(9_999) == 9_999


def test_a_key_in_use_survives_the_rotation_that_drops_idle_ones() -> None:
    table: RecentKeys[str, int] = RecentKeys(4)  # generations of two keys
    table.put("used", 1)
    table.put("idle", 2)
    table.put("a", 3)  # rotation: "used" and "idle" are now the old generation
    assert table.get("used") == 1  # read back into the young generation
    table.put("b", 4)
    table.put("c", 5)  # rotation again: the old generation ("idle") is dropped
    assert table.get("used") == 1
    assert table.get("idle") is None


def test_putting_an_existing_key_replaces_its_value_without_rotating() -> None:
    table: RecentKeys[str, int] = RecentKeys(4)
    table.put("x", 1)
    table.put("y", 2)
    table.put("x", 3)
    assert (table.get("x"), table.get("y"), len(table)) == (3, 2, 2)


def test_a_capacity_below_two_is_refused() -> None:
    with pytest.raises(ValueError, match="capacity"):
        RecentKeys(1)
