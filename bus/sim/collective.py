"""Collective learning: noisy evidence plus three-valued belief fusion.

The model of Crosscombe and Lawry. Agents hold a belief over n
propositions, each true, false or unknown, starting all unknown. Every
round, each agent

1. fuses every belief a peer sent it (``bus.sim.beliefs.fuse``), in the
   deterministic inbox order;
2. with probability ``evidence_rate`` observes one proposition it does not
   know yet, chosen uniformly; the observation is wrong with probability
   ``noise``;
3. with probability ``fusion_rate`` sends its belief to one peer, chosen
   uniformly among the peers it has heard from.

Agents never read the topology. In round 0 each says hello to everyone
(no recipients: membrane fans the hello out to whoever the topology
allows), and afterwards it only knows the peers whose hello reached it.
So the per-agent rate of fusion is the same under every topology; only
who fuses with whom changes, and that is decided by membrane.

Measured: the mean over agents of the normalised distance between belief
and truth (``bus.sim.beliefs.error``).
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Mapping, Sequence

import msgspec

from bus.sim.beliefs import Belief, error, fuse, truth_from_bits
from bus.sim.bounds import check_at_least, check_fractions
from bus.sim.messages import Incoming, Outgoing
from bus.sim.rulesets import Topology, swarm_rules
from bus.sim.scenario import Rules, agent_names, agent_rng

HELLO = "hello"
BELIEF = "belief"


class CollectiveParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    agents: int = 100
    propositions: int = 100
    evidence_rate: float = 0.1
    fusion_rate: float = 1.0
    noise: float = 0.1
    rounds: int = 500
    topology: Topology = Topology()

    def __post_init__(self) -> None:
        check_at_least(self, 2, "agents")
        check_at_least(self, 1, "propositions")
        if self.rounds < 2:
            raise ValueError("rounds must be at least 2 (hello, then learning)")
        check_fractions(self, "evidence_rate", "fusion_rate")
        if not 0.0 <= self.noise <= 0.5:
            raise ValueError("noise must be between 0 and 0.5")


class World:
    """The true state and how noisy looking at it is."""

    __slots__ = ("noise", "truth")

    def __init__(self, truth: Belief, noise: float) -> None:
        self.truth = truth
        self.noise = noise

    def observe(self, index: int, rng: random.Random) -> bool:
        actual = self.truth.state(index)
        assert actual is not None  # the truth decides every proposition
        return (not actual) if rng.random() < self.noise else actual


class Learner:
    """One agent of the collective-learning model."""

    __slots__ = ("_evidence_rate", "_fusion_rate", "_name", "_rng", "_world", "belief", "peers")

    def __init__(self, name: str, params: CollectiveParams, world: World, seed: int) -> None:
        self._name = name
        self._rng = agent_rng(seed, name)
        self._world = world
        self._evidence_rate = params.evidence_rate
        self._fusion_rate = params.fusion_rate
        self.belief = Belief.unknown(params.propositions)
        self.peers: list[str] = []

    @property
    def name(self) -> str:
        return self._name

    async def step(self, round_no: int, inbox: Sequence[Incoming]) -> list[Outgoing]:
        if round_no == 0:
            return [Outgoing(kind=HELLO)]
        for message in inbox:
            if message.kind == HELLO and message.sender not in self.peers:
                self.peers.append(message.sender)
            elif message.kind == BELIEF:
                self.belief = fuse(self.belief, Belief.decode(str(message.body["belief"])))
        rng = self._rng
        if rng.random() < self._evidence_rate:
            unknown = self.belief.unknown_indices()
            if unknown:
                index = rng.choice(unknown)
                self.belief = self.belief.with_evidence(index, self._world.observe(index, rng))
        if self.peers and rng.random() < self._fusion_rate:
            peer = rng.choice(self.peers)
            return [Outgoing(kind=BELIEF, to=(peer,), body={"belief": self.belief.encode()})]
        return []


class CollectiveSwarm:
    """A population of learners under one topology and noise level."""

    def __init__(self, params: CollectiveParams, seed: int) -> None:
        self.params = params
        world_rng = random.Random(f"{seed}/world")
        truth = truth_from_bits(params.propositions, world_rng.getrandbits(params.propositions))
        self.world = World(truth, params.noise)
        names = agent_names("learner", params.agents)
        self.learners = [Learner(name, params, self.world, seed) for name in names]
        self.agents: Sequence[Learner] = self.learners
        self.rules: Rules = swarm_rules(names, topology=params.topology, seed=seed)
        self.rounds = params.rounds
        self.seconds_per_round = 1.0

    def mean_error(self) -> float:
        return statistics.fmean(error(a.belief, self.world.truth) for a in self.learners)

    def observe(self, round_no: int) -> Mapping[str, float]:
        return {"error": self.mean_error()}

    def summary(self) -> Mapping[str, float]:
        known = statistics.fmean(
            a.belief.known.bit_count() / a.belief.size for a in self.learners
        )
        return {
            "error": self.mean_error(),
            "decided": known,
            "peers": statistics.fmean(len(a.peers) for a in self.learners),
        }
