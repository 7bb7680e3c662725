"""Topology presets have the degrees and connectivity they promise, deterministically."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.rules.presets import (
    FullPreset,
    PresetBase,
    RandomKOutPreset,
    RingPreset,
    SmallWorldPreset,
    StarPreset,
    TreePreset,
)

Pairs = list[tuple[int, int]]


def edges_of(preset: PresetBase, n: int) -> Pairs:
    preset.check_size(n)
    return list(preset.pairs(n))


def out_degrees(pairs: Pairs, n: int) -> list[int]:
    counts = Counter(u for u, _ in pairs)
    return [counts[i] for i in range(n)]


def in_degrees(pairs: Pairs, n: int) -> list[int]:
    counts = Counter(v for _, v in pairs)
    return [counts[i] for i in range(n)]


def connected(pairs: Pairs, n: int) -> bool:
    neighbours: dict[int, set[int]] = {i: set() for i in range(n)}
    for u, v in pairs:
        neighbours[u].add(v)
        neighbours[v].add(u)
    seen = {0}
    stack = [0]
    while stack:
        for nxt in neighbours[stack.pop()] - seen:
            seen.add(nxt)
            stack.append(nxt)
    return len(seen) == n


def simple(pairs: Pairs) -> bool:
    """No self-loops and no pair listed twice."""
    return all(u != v for u, v in pairs) and len(set(pairs)) == len(pairs)


def symmetric(pairs: Pairs) -> bool:
    present = set(pairs)
    return all((v, u) in present for u, v in pairs)


PROPERTY = settings(max_examples=60, deadline=None)


@st.composite
def lattice(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(st.integers(min_value=3, max_value=60))
    k = 2 * draw(st.integers(min_value=1, max_value=(n - 1) // 2))
    return n, k


@PROPERTY
@given(st.integers(min_value=2, max_value=30))
def test_full_links_every_ordered_pair(n: int) -> None:
    pairs = edges_of(FullPreset(group="g"), n)
    assert simple(pairs)
    assert out_degrees(pairs, n) == [n - 1] * n
    assert len(pairs) == n * (n - 1)


@PROPERTY
@given(lattice())
def test_ring_lattice_has_degree_exactly_k(nk: tuple[int, int]) -> None:
    n, k = nk
    pairs = edges_of(RingPreset(group="g", k=k), n)
    assert simple(pairs) and symmetric(pairs)
    assert out_degrees(pairs, n) == [k] * n
    assert in_degrees(pairs, n) == [k] * n
    assert connected(pairs, n)


@PROPERTY
@given(lattice(), st.floats(min_value=0.0, max_value=1.0), st.integers(0, 2**32))
def test_small_world_keeps_the_edge_count(nk: tuple[int, int], p: float, seed: int) -> None:
    n, k = nk
    preset = SmallWorldPreset(group="g", k=k, p=p, seed=seed)
    pairs = edges_of(preset, n)
    assert simple(pairs) and symmetric(pairs)
    assert len(pairs) == n * k
    assert pairs == edges_of(preset, n)


@PROPERTY
@given(lattice(), st.integers(0, 2**32))
def test_small_world_without_rewiring_is_the_ring(nk: tuple[int, int], seed: int) -> None:
    n, k = nk
    ring = set(edges_of(RingPreset(group="g", k=k), n))
    assert set(edges_of(SmallWorldPreset(group="g", k=k, p=0.0, seed=seed), n)) == ring


def test_small_world_with_rewiring_differs_from_the_ring() -> None:
    ring = set(edges_of(RingPreset(group="g", k=4), 30))
    rewired = set(edges_of(SmallWorldPreset(group="g", k=4, p=0.5, seed=1), 30))
    assert rewired != ring
    assert len(rewired) == len(ring)


@PROPERTY
@given(st.integers(min_value=2, max_value=50))
def test_star_hub_has_degree_n_minus_1(n: int) -> None:
    pairs = edges_of(StarPreset(group="g"), n)
    assert simple(pairs) and symmetric(pairs)
    degrees = out_degrees(pairs, n)
    assert degrees[0] == n - 1
    assert degrees[1:] == [1] * (n - 1)
    assert connected(pairs, n)


@PROPERTY
@given(st.integers(min_value=2, max_value=60), st.integers(min_value=1, max_value=5))
def test_tree_is_connected_with_n_minus_1_links(n: int, branching: int) -> None:
    pairs = edges_of(TreePreset(group="g", branching=branching), n)
    assert simple(pairs) and symmetric(pairs)
    assert len(pairs) == 2 * (n - 1)
    assert connected(pairs, n)
    parents = Counter(min(u, v) for u, v in pairs if u < v)
    assert max(parents.values()) <= branching


@st.composite
def k_out(draw: st.DrawFn) -> tuple[int, int, int]:
    n = draw(st.integers(min_value=2, max_value=60))
    k = draw(st.integers(min_value=1, max_value=n - 1))
    return n, k, draw(st.integers(0, 2**32))


@PROPERTY
@given(k_out())
def test_random_k_out_has_out_degree_exactly_k(nks: tuple[int, int, int]) -> None:
    n, k, seed = nks
    preset = RandomKOutPreset(group="g", k=k, seed=seed)
    pairs = edges_of(preset, n)
    assert simple(pairs)
    assert out_degrees(pairs, n) == [k] * n
    assert pairs == edges_of(preset, n)


def test_random_k_out_depends_on_the_seed() -> None:
    one = edges_of(RandomKOutPreset(group="g", k=3, seed=1), 40)
    two = edges_of(RandomKOutPreset(group="g", k=3, seed=2), 40)
    assert one != two


@pytest.mark.parametrize(
    ("preset", "n", "message"),
    [
        (RingPreset(group="g", k=4), 4, "ring k=4 must be smaller than the group size 4"),
        (RingPreset(group="g", k=3), 8, "must be even"),
        (SmallWorldPreset(group="g", k=4), 3, "smaller than the group size 3"),
        (RandomKOutPreset(group="g", k=5), 5, "random_k_out k=5 must be smaller"),
        (FullPreset(group="g"), 1, "needs at least 2 members"),
    ],
)
def test_impossible_sizes_are_refused(preset: PresetBase, n: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        preset.check_size(n)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: RingPreset(group="g", k=0), "ring k must be at least 2"),
        (lambda: SmallWorldPreset(group="g", p=-0.1), "p must be between 0 and 1"),
        (lambda: TreePreset(group="g", branching=0), "branching must be at least 1"),
        (lambda: RandomKOutPreset(group="g", k=0), "k must be at least 1"),
        (lambda: FullPreset(group="g", max_bytes=0), "max_bytes must be positive"),
        (lambda: FullPreset(group="bad group"), "group 'bad group' must start"),
    ],
)
def test_bad_parameters_are_refused(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


def test_rule_names_default_to_preset_and_group() -> None:
    assert RingPreset(group="team").rule_name == "ring-team"
    assert RingPreset(group="team", name="circle").rule_name == "circle"
