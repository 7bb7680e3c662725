"""Topology presets: one line in a rules file that generates the edges of a
classic interaction network over the members of a group.

Every generator is deterministic: members are taken in the order the group
lists them, and random choices come from ``random.Random(seed)``. Generators
yield directed pairs of member indices; undirected topologies yield both
directions. Sizes that make a preset impossible are rejected by
``check_size`` before anything is generated.

- ``full``: every ordered pair; out-degree n-1.
- ``ring``: a ring lattice, each member linked to the k/2 nearest members on
  each side (k even); degree exactly k.
- ``small_world``: Watts-Strogatz — the ring lattice, then each lattice edge
  (u, u+j) rewired with probability p to a uniformly chosen member that is
  neither u nor already u's neighbour; the number of edges is preserved.
- ``star``: the hub linked to every other member; hub degree n-1.
- ``tree``: member i is the parent of members b*i+1 .. b*i+b (a complete
  b-ary tree in listing order), linked both ways; connected, n-1 links.
- ``random_k_out``: each member sends to k distinct others chosen at random;
  out-degree exactly k.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Literal, Union

import msgspec

from bus.rules.selectors import check_identifier, check_kinds

Mode = Literal["enforce", "shadow"]
Pair = tuple[int, int]


class PresetBase(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, tag_field="preset"
):
    """Fields every preset takes. ``kinds`` limits the edges to those message kinds."""

    group: str
    name: str | None = None
    mode: Mode = "enforce"
    kinds: tuple[str, ...] = ()
    max_bytes: int | None = None

    def __post_init__(self) -> None:
        check_identifier(self.group, "group")
        if self.name is not None:
            check_identifier(self.name, "rule name")
        check_kinds(self.kinds)
        if self.max_bytes is not None and self.max_bytes <= 0:
            raise ValueError("max_bytes must be positive")

    @property
    def preset(self) -> str:
        return str(type(self).__struct_config__.tag)

    @property
    def rule_name(self) -> str:
        return self.name or f"{self.preset}-{self.group}"

    def check_size(self, n: int) -> None:
        """Raise ValueError when the preset cannot be built over ``n`` members."""
        if n < 2:
            raise ValueError(f"preset {self.preset} needs at least 2 members, group has {n}")

    def pairs(self, n: int) -> Iterator[Pair]:
        raise NotImplementedError


class FullPreset(PresetBase, frozen=True, tag="full"):
    def pairs(self, n: int) -> Iterator[Pair]:
        for u in range(n):
            for v in range(n):
                if u != v:
                    yield u, v


def _check_lattice_k(k: int, n: int, preset: str) -> None:
    if k % 2:
        raise ValueError(f"{preset} k={k} must be even (k/2 neighbours on each side)")
    if k >= n:
        raise ValueError(f"{preset} k={k} must be smaller than the group size {n}")


def _lattice_links(n: int, k: int) -> Iterator[Pair]:
    """Undirected ring-lattice links (u, u+j mod n), j = 1..k/2, each once."""
    for u in range(n):
        for j in range(1, k // 2 + 1):
            yield u, (u + j) % n


class RingPreset(PresetBase, frozen=True, tag="ring"):
    k: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.k < 2:
            raise ValueError("ring k must be at least 2")

    def check_size(self, n: int) -> None:
        super().check_size(n)
        _check_lattice_k(self.k, n, "ring")

    def pairs(self, n: int) -> Iterator[Pair]:
        for u, v in _lattice_links(n, self.k):
            yield u, v
            yield v, u


class SmallWorldPreset(PresetBase, frozen=True, tag="small_world"):
    k: int = 4
    p: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.k < 2:
            raise ValueError("small_world k must be at least 2")
        if not 0.0 <= self.p <= 1.0:
            raise ValueError("small_world p must be between 0 and 1")

    def check_size(self, n: int) -> None:
        super().check_size(n)
        _check_lattice_k(self.k, n, "small_world")

    def pairs(self, n: int) -> Iterator[Pair]:
        rng = random.Random(self.seed)
        neighbours: list[set[int]] = [set() for _ in range(n)]
        links = list(_lattice_links(n, self.k))
        for u, v in links:
            neighbours[u].add(v)
            neighbours[v].add(u)
        for index, (u, v) in enumerate(links):
            if rng.random() >= self.p or len(neighbours[u]) >= n - 1:
                continue
            w = rng.randrange(n)
            while w == u or w in neighbours[u]:
                w = rng.randrange(n)
            neighbours[u].discard(v)
            neighbours[v].discard(u)
            neighbours[u].add(w)
            neighbours[w].add(u)
            links[index] = (u, w)
        for u, v in links:
            yield u, v
            yield v, u


class StarPreset(PresetBase, frozen=True, tag="star"):
    """``hub`` is an agent id in the group; by default its first member."""

    hub: str | None = None

    def pairs(self, n: int) -> Iterator[Pair]:
        # The compiler moves the hub to index 0.
        for v in range(1, n):
            yield 0, v
            yield v, 0


class TreePreset(PresetBase, frozen=True, tag="tree"):
    branching: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.branching < 1:
            raise ValueError("tree branching must be at least 1")

    def pairs(self, n: int) -> Iterator[Pair]:
        for child in range(1, n):
            parent = (child - 1) // self.branching
            yield parent, child
            yield child, parent


class RandomKOutPreset(PresetBase, frozen=True, tag="random_k_out"):
    k: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.k < 1:
            raise ValueError("random_k_out k must be at least 1")

    def check_size(self, n: int) -> None:
        super().check_size(n)
        if self.k >= n:
            raise ValueError(f"random_k_out k={self.k} must be smaller than the group size {n}")

    def pairs(self, n: int) -> Iterator[Pair]:
        rng = random.Random(self.seed)
        for u in range(n):
            for v in rng.sample(range(n - 1), self.k):
                yield u, v if v < u else v + 1


AnyPreset = Union[  # noqa: UP007 - msgspec needs a Union of the tagged types
    FullPreset, RingPreset, SmallWorldPreset, StarPreset, TreePreset, RandomKOutPreset
]
