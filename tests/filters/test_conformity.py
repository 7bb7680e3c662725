"""Conformity damper: sequester rounds, blind stances, protect dissent, sensor trigger."""

from __future__ import annotations

import msgspec
import pytest

from bus import headers as h
from bus.clock import FakeClock
from bus.engine.chain import ChainRunner
from bus.verdict import FORWARD, Delay, Divert, Rewrite
from filters.base import FilterContext
from filters.conformity import ConformityConfig, ConformityFilter
from filters.pingpong import PingPongConfig, PingPongFilter


def conformity(**fields: object) -> ConformityConfig:
    return msgspec.convert({"filter": "conformity", **fields}, ConformityConfig)


async def test_stance_posts_are_held_until_every_member_has_posted(
    clock: FakeClock, ctx: FilterContext, make_env
) -> None:
    flt = ConformityFilter(conformity(poll_interval=0.5, protect_dissent=False), clock)
    post_a = make_env("a", stance="yes")
    assert await flt.decide(post_a, "b", ctx) == Delay(0.5, "sequester")
    assert await flt.decide(post_a, "c", ctx) == Delay(0.5, "sequester")
    assert await flt.decide(make_env("a", b"chatter"), "b", ctx) is FORWARD  # no stance
    clock.advance(0.5)
    assert await flt.decide(post_a, "b", ctx) == Delay(0.5, "sequester")  # re-checked, held
    post_b = make_env("b", stance="no")
    assert isinstance(await flt.decide(post_b, "a", ctx), Delay)
    post_c = make_env("c", stance="yes")
    assert await flt.decide(post_c, "a", ctx) is FORWARD  # the last one completes the round
    clock.advance(0.5)
    assert [await flt.decide(p, "x", ctx) for p in (post_a, post_b)] == [FORWARD, FORWARD]
    # The next stance opens a new round.
    assert isinstance(await flt.decide(make_env("a", stance="no"), "b", ctx), Delay)


async def test_a_round_that_never_completes_is_released_at_its_timeout(
    clock: FakeClock, ctx: FilterContext, make_env
) -> None:
    flt = ConformityFilter(conformity(round_timeout=2.0, poll_interval=0.75,
                                      protect_dissent=False), clock)
    post = make_env("a", stance="yes")
    assert await flt.decide(post, "b", ctx) == Delay(0.75, "sequester")
    clock.advance(1.5)
    assert await flt.decide(post, "b", ctx) == Delay(0.5, "sequester")  # never past the timeout
    clock.advance(0.5)
    assert await flt.decide(post, "b", ctx) is FORWARD


async def test_a_member_posting_twice_does_not_complete_the_round(
    clock: FakeClock, ctx: FilterContext, make_env
) -> None:
    flt = ConformityFilter(conformity(protect_dissent=False), clock)
    for _ in range(3):
        assert isinstance(await flt.decide(make_env("a", stance="yes"), "b", ctx), Delay)


async def test_kinds_can_mark_stance_posts(
    clock: FakeClock, ctx: FilterContext, make_env
) -> None:
    flt = ConformityFilter(conformity(stance_kinds=("vote",)), clock)
    assert isinstance(await flt.decide(make_env("a", kind="vote"), "b", ctx), Delay)
    assert await flt.decide(make_env("a", kind="note"), "b", ctx) is FORWARD


async def test_blind_strips_the_stance_from_what_peers_receive(
    clock: FakeClock, ctx: FilterContext, make_env
) -> None:
    flt = ConformityFilter(conformity(sequester=False, blind=True,
                                      blind_fields=("vote", "confidence")), clock)
    verdict = await flt.decide(make_env("a", b'{"vote": "yes"}', stance="yes"), "b", ctx)
    assert isinstance(verdict, Rewrite)
    assert verdict.set_headers == {h.STANCE: None}
    assert verdict.strip_fields == ("vote", "confidence")


async def test_dissent_is_never_held_and_protected_from_later_delays(
    clock: FakeClock, ctx: FilterContext, sensors, make_env
) -> None:
    sensors.majority["g"] = "yes"
    flt = ConformityFilter(conformity(), clock)
    assert isinstance(await flt.decide(make_env("a", stance="yes"), "b", ctx), Delay)
    assert await flt.decide(make_env("b", stance="no"), "a", ctx) is FORWARD
    assert ctx.protected

    # In a chain, a damping filter after the conformity damper cannot delay dissent.
    damper = PingPongFilter(msgspec.convert(
        {"filter": "pingpong", "threshold": 0, "jitter": 0.0}, PingPongConfig), clock)
    chain = ChainRunner([flt, damper], metrics=None, clock=clock)
    outcomes = []
    for turn in range(6):
        sender, recipient = ("b", "c") if turn % 2 == 0 else ("c", "b")
        stance = "no" if sender == "b" else None
        outcomes.append(await chain.run(make_env(sender, stance=stance), recipient, ctx))
    assert all(o.verdict is FORWARD for o in outcomes[::2])  # b's dissent always passes
    assert any(isinstance(o.verdict, Delay | Divert) for o in outcomes[1::2])


async def test_the_sensor_trigger_switches_the_controls(
    clock: FakeClock, ctx: FilterContext, sensors, make_env
) -> None:
    flt = ConformityFilter(conformity(trigger="sensor", sensor="conformity_rate",
                                      threshold=0.6, blind=True), clock)
    sensors.values[("g", "conformity_rate")] = 0.4
    assert await flt.decide(make_env("a", stance="yes"), "b", ctx) is FORWARD
    sensors.values[("g", "conformity_rate")] = 0.7
    assert isinstance(await flt.decide(make_env("a", stance="yes"), "b", ctx), Delay)


def test_config_is_checked() -> None:
    with pytest.raises(msgspec.ValidationError, match="poll_interval"):
        conformity(round_timeout=1.0, poll_interval=2.0)
    with pytest.raises(msgspec.ValidationError, match=r"\$\.trigger"):
        conformity(trigger="sometimes")
