"""The collective-learning agents, on their own and through the in-memory engine."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bus.sim.beliefs import Belief
from bus.sim.collective import BELIEF, HELLO, CollectiveParams, CollectiveSwarm, Learner, World
from bus.sim.harness import run_local
from bus.sim.messages import Incoming
from bus.sim.rulesets import Topology


def _heard(sender: str, kind: str, body: dict[str, str] | None = None) -> Incoming:
    return Incoming(sender=sender, kind=kind, body=body or {}, sent_round=0, seq=0)


def _learner(**overrides: float) -> Learner:
    params = CollectiveParams(agents=2, propositions=4, rounds=2, **overrides)  # type: ignore[arg-type]
    return Learner("me", params, World(Belief.decode("1010"), params.noise), seed=3)


async def test_round_zero_is_a_hello_to_everyone_membrane_allows() -> None:
    sent = await _learner().step(0, [])
    assert len(sent) == 1 and sent[0].kind == HELLO and sent[0].to is None


async def test_peers_are_those_whose_hello_arrived_and_beliefs_go_to_one_of_them() -> None:
    learner = _learner(fusion_rate=1.0, evidence_rate=0.0)
    sent = await learner.step(1, [_heard("p1", HELLO), _heard("p2", HELLO)])
    assert learner.peers == ["p1", "p2"]
    assert len(sent) == 1 and sent[0].kind == BELIEF
    assert sent[0].to is not None and sent[0].to[0] in ("p1", "p2")
    assert Belief.decode(sent[0].body["belief"]) == learner.belief


async def test_no_peer_heard_means_nobody_to_fuse_with() -> None:
    assert await _learner(fusion_rate=1.0).step(1, []) == []


async def test_received_beliefs_are_fused() -> None:
    learner = _learner(evidence_rate=0.0, fusion_rate=0.0)
    await learner.step(1, [_heard("p1", BELIEF, {"belief": "1???"}),
                           _heard("p2", BELIEF, {"belief": "0?1?"})])
    assert learner.belief.encode() == "??1?"


async def test_noiseless_evidence_is_always_right() -> None:
    learner = _learner(evidence_rate=1.0, fusion_rate=0.0, noise=0.0)
    for round_no in range(1, 5):
        await learner.step(round_no, [])
    assert learner.belief.encode() == "1010"


def test_full_noise_always_lies() -> None:
    world = World(Belief.decode("1"), noise=1.0)
    assert world.observe(0, random.Random(1)) is False


@pytest.mark.parametrize("bad", [{"agents": 1}, {"noise": 0.6}, {"evidence_rate": 1.5}])
def test_invalid_parameters_are_rejected(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        CollectiveParams(**bad)  # type: ignore[arg-type]


async def test_same_seed_same_result_and_noiseless_learning_converges(tmp_path: Path) -> None:
    params = CollectiveParams(agents=8, propositions=12, rounds=60, noise=0.0,
                              topology=Topology(name="ring", degree=2))
    first = await run_local(CollectiveSwarm(params, 5), tmp_path / "a")
    second = await run_local(CollectiveSwarm(params, 5), tmp_path / "b")
    assert first.summary == second.summary
    assert [p["error"] for p in first.series] == [p["error"] for p in second.series]
    assert first.series[0]["error"] == 0.5  # nobody knows anything after the hellos
    assert first.summary["error"] < 0.1
    assert first.summary["peers"] == 2.0  # the ring lattice decided who heard whom
    assert first.ledger.check() == []
