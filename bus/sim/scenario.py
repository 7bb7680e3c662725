"""The contract between a scenario model and the runtime that plays it.

A scenario builds a ``Swarm`` for one condition (a topology, a noise level,
a set of damping filters...) and one seed: the agents, the rules file that
membrane enforces on them, and how to measure them. The runtime plays the
swarm in logical rounds: every agent takes one ``step`` per round with the
messages membrane delivered to it since its last step, sorted by
``Incoming.order``. Agents never see the rules; membrane decides who hears
whom.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from bus.sim.messages import Incoming, Outgoing

Rules = dict[str, Any]


class Agent(Protocol):
    @property
    def name(self) -> str: ...

    async def step(self, round_no: int, inbox: Sequence[Incoming]) -> list[Outgoing]:
        """Act once: read what arrived, return what to send this round."""
        ...


class Swarm(Protocol):
    """One playable instance of a scenario."""

    @property
    def agents(self) -> Sequence[Agent]: ...

    @property
    def rules(self) -> Rules:
        """The rules file (as data) membrane enforces on these agents."""
        ...

    @property
    def rounds(self) -> int: ...

    @property
    def seconds_per_round(self) -> float:
        """Logical time one round stands for; time-based filters see this clock."""
        ...

    def observe(self, round_no: int) -> Mapping[str, float]:
        """Measurements after ``round_no`` (a time series for the figures)."""
        ...

    def summary(self) -> Mapping[str, float]:
        """Measurements at the end of the run (the table's columns)."""
        ...


def agent_rng(seed: int, agent: str) -> random.Random:
    """The agent's own random stream: depends on the seed and its name only,
    so adding an agent or reordering the steps does not shift anyone else's."""
    return random.Random(f"{seed}/{agent}")


def agent_names(prefix: str, count: int) -> list[str]:
    """Zero-padded names, so sorting by name is sorting by number."""
    width = len(str(max(count - 1, 0)))
    return [f"{prefix}{i:0{width}d}" for i in range(count)]
