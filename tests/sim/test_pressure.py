"""The peer-pressure model: who switches, how likely, and how it is measured."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.sim.harness import run_local
from bus.sim.messages import Incoming
from bus.sim.pressure import (
    ANSWER,
    CORRECT,
    LURE,
    PressureParams,
    PressureSwarm,
    Respondent,
    shown_majority,
    speaking_order,
    switch_probability,
)
from bus.sim.rulesets import Topology


def _stance(sender: str, answer: str | None) -> Incoming:
    return Incoming(sender=sender, kind=ANSWER, body={}, sent_round=0, seq=0, stance=answer)


def test_susceptibility_grows_with_the_majority_and_saturates() -> None:
    values = [switch_probability(m, m, 0.8, 2.0) for m in range(1, 9)]
    assert values == sorted(values)
    assert values[-1] < 0.8
    assert values[-1] - values[-2] < values[1] - values[0]


def test_one_dissenter_cuts_susceptibility() -> None:
    assert switch_probability(4, 5, 0.8, 2.0) < 0.7 * switch_probability(4, 4, 0.8, 2.0)
    assert switch_probability(0, 3, 0.8, 2.0) == 0.0


def test_the_shown_majority_must_be_strict() -> None:
    assert shown_majority({"a": "B", "b": "B", "c": "A"}) == ("B", 2)
    assert shown_majority({"a": "B", "b": "A"}) is None
    assert shown_majority({}) is None


def test_confederates_speak_first() -> None:
    order = speaking_order(["a0", "a1", "a2", "a3"], {"a2"}, seed=4)
    assert order[0] == "a2" and sorted(order) == ["a0", "a1", "a2", "a3"]


async def test_a_unanimous_majority_can_turn_an_honest_agent() -> None:
    params = PressureParams(agents=10, confederates=0, p_correct=1.0, s_max=1.0, m0=0.01)
    agent = Respondent("x", params, seed=1, stubborn=False, turns=[1])
    assert agent.private == CORRECT
    sent = await agent.step(1, [_stance(f"p{i}", LURE) for i in range(5)])
    assert agent.answer == LURE and agent.switches == 1 and agent.exposures == 1
    assert sent[0].stance == LURE and sent[0].to is None


async def test_an_agent_speaks_only_at_its_turns_and_ignores_blind_posts() -> None:
    params = PressureParams(agents=4, confederates=0, s_max=1.0, m0=0.01)
    agent = Respondent("x", params, seed=1, stubborn=False, turns=[2])
    assert await agent.step(1, [_stance("p", None)]) == []
    assert agent.seen == {}  # a blinded post shows no stance


async def test_confederates_never_move() -> None:
    params = PressureParams(agents=4, confederates=1, s_max=1.0, m0=0.01)
    stooge = Respondent("s", params, seed=1, stubborn=True, turns=[0])
    sent = await stooge.step(0, [_stance(f"p{i}", CORRECT) for i in range(3)])
    assert stooge.answer == LURE and sent[0].stance == LURE


async def test_blind_damper_leaves_everyone_with_their_private_answer(tmp_path: Path) -> None:
    params = PressureParams(agents=10, confederates=3, damper="blind",
                            topology=Topology(name="full"))
    record = await run_local(PressureSwarm(params, 2), tmp_path)
    summary = record.summary
    assert summary["conformity_rate"] == 0.0 and summary["vulnerability_rate"] == 0.0
    assert summary["accuracy"] == summary["private_accuracy"]
    assert record.ledger.check() == []


async def test_full_visibility_lets_early_confederates_start_a_herd(tmp_path: Path) -> None:
    params = PressureParams(agents=20, confederates=5, topology=Topology(name="full"))
    herded = [await run_local(PressureSwarm(params, seed), tmp_path / str(seed))
              for seed in range(3)]
    assert all(r.summary["conformity_rate"] > 0 for r in herded)
    assert sum(r.summary["accuracy"] for r in herded) < sum(
        r.summary["private_accuracy"] for r in herded)


@pytest.mark.parametrize("bad", [{"confederates": 5, "agents": 5}, {"p_correct": 2.0},
                                 {"passes": 0}])
def test_invalid_parameters_are_rejected(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        PressureParams(**bad)  # type: ignore[arg-type]
