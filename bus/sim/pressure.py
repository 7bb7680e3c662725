"""Peer pressure: an Asch / BenchForm setting with simulated agents.

A group answers one multiple-choice question. Honest agents hold a private
answer, correct (``A``) with probability ``p_correct`` and otherwise one of
the wrong options at random; ``confederates`` always answer ``B`` and never
move, and they speak first (as in Asch's experiment, where the stooges
answered before the subject). Agents speak one per round, in ``passes``
passes over the group; speaking is posting one's answer to everyone as the
``membrane-stance`` of a message with no recipients, so membrane decides
who sees it. At its turn an honest agent looks at the latest stance it has
been shown from each peer: if one answer is the strict majority of what it
was shown and differs from its own, it switches to it with probability

    s = s_max * (1 - exp(-m / m0)) * share ** 2

where m is the size of that majority and share its fraction of the stances
shown: susceptibility grows with the majority's size and saturates after
a few (Asch), and a single visible dissenter cuts it sharply (unanimity).

Measured over honest agents: ``accuracy`` (final answer correct),
``private_accuracy`` (before any exposure), ``conformity_rate`` (switches
to the shown majority per turn at which a different majority was shown),
``vulnerability_rate`` (privately correct agents whose final answer is
wrong) and ``herd`` (share of the most common final answer, everyone).
"""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgspec

from bus.sim.bounds import check_at_least, check_fractions
from bus.sim.messages import Incoming, Outgoing
from bus.sim.rulesets import Topology, swarm_rules
from bus.sim.scenario import Rules, agent_names, agent_rng

CORRECT = "A"
LURE = "B"
ANSWER = "answer"
Damper = Literal["none", "sequester", "blind"]
DAMPERS: tuple[str, ...] = ("none", "sequester", "blind")


class PressureParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    agents: int = 30
    confederates: int = 6
    options: int = 4
    p_correct: float = 0.6
    s_max: float = 0.8
    m0: float = 2.0
    passes: int = 2
    topology: Topology = Topology()
    damper: Damper = "none"

    def __post_init__(self) -> None:
        check_at_least(self, 2, "agents")
        if not 0 <= self.confederates < self.agents:
            raise ValueError("confederates must leave at least one honest agent")
        check_at_least(self, 2, "options")
        check_fractions(self, "p_correct", "s_max")
        if self.m0 <= 0:
            raise ValueError("m0 must be positive")
        check_at_least(self, 1, "passes")

    @property
    def choices(self) -> list[str]:
        return [chr(ord("A") + i) for i in range(self.options)]


def switch_probability(majority: int, shown: int, s_max: float, m0: float) -> float:
    """How likely an agent gives in to a majority of ``majority`` among ``shown`` stances."""
    if majority <= 0 or shown <= 0:
        return 0.0
    share = majority / shown
    return s_max * (1.0 - math.exp(-majority / m0)) * share * share


def shown_majority(stances: Mapping[str, str]) -> tuple[str, int] | None:
    """The strict plurality answer among the stances shown, with its count (None on a tie)."""
    if not stances:
        return None
    ranked = Counter(stances.values()).most_common(2)
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None
    return ranked[0]


class Respondent:
    """An agent answering the question; ``stubborn`` agents are the confederates."""

    __slots__ = ("_name", "_params", "_rng", "_turns", "answer", "exposures", "private",
                 "seen", "stubborn", "switches")

    def __init__(self, name: str, params: PressureParams, seed: int, stubborn: bool,
                 turns: Sequence[int]) -> None:
        self._name = name
        self._params = params
        self._rng = agent_rng(seed, name)
        self._turns = frozenset(turns)
        self.stubborn = stubborn
        self.private = LURE if stubborn else self._private_answer()
        self.answer = self.private
        self.seen: dict[str, str] = {}
        self.exposures = 0
        self.switches = 0

    @property
    def name(self) -> str:
        return self._name

    def _private_answer(self) -> str:
        if self._rng.random() < self._params.p_correct:
            return CORRECT
        return self._rng.choice([c for c in self._params.choices if c != CORRECT])

    async def step(self, round_no: int, inbox: Sequence[Incoming]) -> list[Outgoing]:
        for message in inbox:
            if message.kind == ANSWER and message.stance is not None:
                self.seen[message.sender] = message.stance
        if round_no not in self._turns:
            return []
        if not self.stubborn:
            self._consider()
        return [Outgoing(kind=ANSWER, stance=self.answer, body={"stance": self.answer})]

    def _consider(self) -> None:
        majority = shown_majority(self.seen)
        if majority is None or majority[0] == self.answer:
            return
        self.exposures += 1
        p = switch_probability(majority[1], len(self.seen), self._params.s_max, self._params.m0)
        if self._rng.random() < p:
            self.answer = majority[0]
            self.switches += 1


def speaking_order(names: Sequence[str], confederates: set[str], seed: int) -> list[str]:
    """Confederates first, then the honest agents in a seeded random order."""
    honest = [n for n in names if n not in confederates]
    random.Random(f"{seed}/order").shuffle(honest)
    return [n for n in names if n in confederates] + honest


def damper_filters(damper: Damper, params: PressureParams, seconds_per_round: float
                   ) -> list[dict[str, Any]]:
    if damper == "none":
        return []
    # A sequestered round lasts until everyone has spoken once: one pass.
    round_timeout = (params.agents + 1) * seconds_per_round
    return [{
        "filter": "conformity",
        "name": f"conformity-{damper}",
        "sequester": damper == "sequester",
        "blind": damper == "blind",
        "round_timeout": round_timeout,
        "poll_interval": seconds_per_round / 4,
    }]


class PressureSwarm:
    """A group answering one question under one topology and damper."""

    SECONDS_PER_ROUND = 1.0

    def __init__(self, params: PressureParams, seed: int) -> None:
        self.params = params
        names = agent_names("agent", params.agents)
        # Confederates are spread evenly over the listing (and so over a ring).
        step = params.agents / params.confederates if params.confederates else 0
        confederates = {names[int(i * step)] for i in range(params.confederates)}
        order = speaking_order(names, confederates, seed)
        n = params.agents
        turns = {name: [p * n + order.index(name) for p in range(params.passes)]
                 for name in names}
        self.respondents = [Respondent(name, params, seed, name in confederates, turns[name])
                            for name in names]
        self.agents: Sequence[Respondent] = self.respondents
        # One more round than turns, so the last speaker's post is delivered and seen.
        self.rounds = params.passes * n + 1
        self.seconds_per_round = self.SECONDS_PER_ROUND
        self.rules: Rules = swarm_rules(
            names, topology=params.topology, seed=seed,
            filters=damper_filters(params.damper, params, self.SECONDS_PER_ROUND),
            sensors={"window_seconds": (n + 1) * self.SECONDS_PER_ROUND})

    def _honest(self) -> list[Respondent]:
        return [r for r in self.respondents if not r.stubborn]

    def observe(self, round_no: int) -> Mapping[str, float]:
        honest = self._honest()
        return {"accuracy": statistics.fmean(r.answer == CORRECT for r in honest)}

    def summary(self) -> Mapping[str, float]:
        honest = self._honest()
        exposures = sum(r.exposures for r in honest)
        switches = sum(r.switches for r in honest)
        privately_right = [r for r in honest if r.private == CORRECT]
        answers = Counter(r.answer for r in self.respondents)
        return {
            "accuracy": statistics.fmean(r.answer == CORRECT for r in honest),
            "private_accuracy": statistics.fmean(r.private == CORRECT for r in honest),
            "conformity_rate": switches / exposures if exposures else 0.0,
            "vulnerability_rate": (
                statistics.fmean(r.answer != CORRECT for r in privately_right)
                if privately_right else 0.0),
            "herd": answers.most_common(1)[0][1] / len(self.respondents),
        }
