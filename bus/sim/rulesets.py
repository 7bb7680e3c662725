"""Rules files for the scenarios, generated as data.

Every scenario puts its agents in one group and lets a topology preset of
the rules file decide who may talk to whom; damping filters are added as
the rules file's ``filters:`` section. The result is the same data a person
would write in YAML, validated by ``bus.rules`` when the relay loads it, and
written next to the results so each figure's rules can be read and rerun.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

import msgspec

from bus.sim.scenario import Rules

SWARM_GROUP = "swarm"

TopologyName = Literal["full", "ring", "small_world", "star", "tree", "random_k_out"]
TOPOLOGIES: tuple[str, ...] = get_args(TopologyName)


class Topology(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A topology preset with the parameters the simulator varies.

    ``degree`` is k of the ring lattice and small world, and the out-degree
    of random_k_out; ``rewire`` is the small world's rewiring probability.
    """

    name: TopologyName = "full"
    degree: int = 4
    rewire: float = 0.1

    def __post_init__(self) -> None:
        if self.degree < 1:
            raise ValueError("degree must be at least 1")
        if not 0.0 <= self.rewire <= 1.0:
            raise ValueError("rewire must be between 0 and 1")

    @property
    def label(self) -> str:
        if self.name in ("ring", "small_world", "random_k_out"):
            return f"{self.name}(k={self.degree})"
        return self.name

    def preset(self, group: str, seed: int) -> dict[str, Any]:
        """The rules file's ``topology:`` entry; ``seed`` varies random graphs per repeat."""
        entry: dict[str, Any] = {"preset": self.name, "group": group}
        if self.name in ("ring", "small_world", "random_k_out"):
            entry["k"] = self.degree
        if self.name == "small_world":
            entry["p"] = self.rewire
        if self.name in ("small_world", "random_k_out"):
            entry["seed"] = seed
        return entry


def swarm_rules(
    agents: Sequence[str],
    *,
    topology: Topology | None,
    seed: int = 0,
    groups: Mapping[str, Sequence[str]] | None = None,
    edges: Sequence[dict[str, Any]] = (),
    filters: Sequence[dict[str, Any]] = (),
    sensors: dict[str, Any] | None = None,
) -> Rules:
    """A rules file putting ``agents`` in one group wired by ``topology``.

    ``groups`` are extra groups (roles) and ``edges`` extra explicit edge
    rules: scenarios with fixed roles use them instead of, or beside, a preset.
    """
    rules: Rules = {
        "version": 1,
        "groups": {SWARM_GROUP: {"members": list(agents)},
                   **{name: {"members": list(m)} for name, m in (groups or {}).items()}},
    }
    if topology is not None:
        rules["topology"] = [topology.preset(SWARM_GROUP, seed)]
    if edges:
        rules["edges"] = list(edges)
    if filters:
        rules["filters"] = list(filters)
    if sensors is not None:
        rules["sensors"] = sensors
    return rules
