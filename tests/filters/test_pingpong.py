"""Ping-pong damper: alternations counted per pair, growing delay with jitter, then cut."""

from __future__ import annotations

import random

import msgspec
import pytest

from bus.clock import FakeClock
from bus.verdict import FORWARD, Delay, Divert, Verdict
from filters.base import FilterContext
from filters.pingpong import PingPongConfig, PingPongFilter


def pingpong(**fields: object) -> PingPongConfig:
    return msgspec.convert({"filter": "pingpong", **fields}, PingPongConfig)


async def rally(flt: PingPongFilter, ctx: FilterContext, make_env, clock: FakeClock,
                turns: int, gap: float = 1.0) -> list[Verdict]:
    """a and b answer each other ``turns`` times, ``gap`` seconds apart."""
    out = []
    for turn in range(turns):
        sender, recipient = ("a", "b") if turn % 2 == 0 else ("b", "a")
        out.append(await flt.decide(make_env(sender), recipient, ctx))
        clock.advance(gap)
    return out


async def test_delays_grow_exponentially_beyond_the_threshold_then_the_pair_is_cut(
    clock: FakeClock, ctx: FilterContext, make_env
) -> None:
    config = pingpong(threshold=3, half_life=1e6, jitter=0.0, base_delay=0.5, factor=2.0,
                      max_delay=4.0)
    flt = PingPongFilter(config, clock)
    verdicts = await rally(flt, ctx, make_env, clock, turns=9, gap=0.001)
    # The opening message is not an answer; answers 1..3 are within the threshold.
    assert verdicts[:4] == [FORWARD] * 4
    assert [v.seconds for v in verdicts[4:8] if isinstance(v, Delay)] == pytest.approx(
        [0.5, 1.0, 2.0, 4.0])
    assert isinstance(verdicts[8], Divert) and verdicts[8].reason == "pingpong"


async def test_one_sided_traffic_and_slow_answers_are_not_ping_pong(
    clock: FakeClock, ctx: FilterContext, make_env
) -> None:
    flt = PingPongFilter(pingpong(threshold=2, window=5.0), clock)
    for _ in range(20):
        assert await flt.decide(make_env("a"), "b", ctx) is FORWARD
    assert await rally(flt, ctx, make_env, clock, turns=10, gap=6.0) == [FORWARD] * 10
    assert flt.score("a", "b") == 0.0


async def test_a_quiet_pair_is_forgiven(clock: FakeClock, ctx: FilterContext, make_env) -> None:
    flt = PingPongFilter(pingpong(threshold=4, half_life=10.0, jitter=0.0), clock)
    await rally(flt, ctx, make_env, clock, turns=8, gap=0.1)
    hot = flt.score("b", "a")
    assert hot > 4
    clock.advance(40)  # four half-lives (and the 0.1 s after the last turn)
    assert await flt.decide(make_env("a"), "b", ctx) is FORWARD
    assert flt.score("a", "b") == pytest.approx(hot * 0.5 ** (40.1 / 10.0))


async def test_jitter_is_bounded_and_reproducible_with_an_injected_rng(
    clock: FakeClock, ctx: FilterContext, make_env
) -> None:
    config = pingpong(threshold=0, half_life=1e6, jitter=0.25, base_delay=1.0, factor=1.0,
                      max_delay=10.0)
    first = PingPongFilter(config, clock, rng=random.Random(7))
    delays = [v.seconds for v in await rally(first, ctx, make_env, clock, 30, gap=0.01)
              if isinstance(v, Delay)]
    assert len(delays) == 29 and all(0.75 <= d <= 1.25 for d in delays)
    assert len(set(delays)) > 1
    second = PingPongFilter(config, clock, rng=random.Random(7))
    again = [v.seconds for v in await rally(second, ctx, make_env, clock, 30, gap=0.01)
             if isinstance(v, Delay)]
    assert again == delays


async def test_pairs_are_independent_and_bounded(
    clock: FakeClock, ctx: FilterContext, make_env
) -> None:
    flt = PingPongFilter(pingpong(threshold=1, max_pairs=2, jitter=0.0), clock)
    await rally(flt, ctx, make_env, clock, turns=6, gap=0.01)
    assert isinstance(await flt.decide(make_env("b"), "a", ctx), Delay | Divert)
    assert await flt.decide(make_env("a"), "c", ctx) is FORWARD  # another pair is untouched
    await flt.decide(make_env("x"), "y", ctx)
    assert flt.score("a", "b") == 0.0  # evicted: least recently used of three pairs


def test_config_is_checked() -> None:
    with pytest.raises(msgspec.ValidationError, match="jitter"):
        pingpong(jitter=1.5)
    with pytest.raises(msgspec.ValidationError, match="max_delay"):
        pingpong(base_delay=5.0, max_delay=1.0)
