"""Circuit breaker: ejection on diverts or oscillation, growing cooldown, half-open probes."""

from __future__ import annotations

import msgspec
import pytest

from bus.clock import FakeClock
from bus.envelope import Envelope
from bus.verdict import FORWARD, Divert, Verdict
from filters.base import FilterContext
from filters.breaker import BreakerConfig, BreakerFilter
from filters.window import SlidingCount


def breaker(**fields: object) -> BreakerConfig:
    defaults = {"window": 10.0, "min_volume": 4, "max_divert_ratio": 0.5,
                "base_ejection": 5.0, "max_ejection": 12.0, "half_open_probes": 2}
    return msgspec.convert({"filter": "breaker", **defaults, **fields}, BreakerConfig)


async def send(flt: BreakerFilter, ctx: FilterContext, env: Envelope, clock: FakeClock,
               delivered: bool = True, recipient: str = "b") -> Verdict:
    """One message through a chain of [breaker, something that delivers or diverts]."""
    verdict = await flt.decide(env, recipient, ctx)
    diverted = isinstance(verdict, Divert) or not delivered
    flt.observe_outcome(env, recipient, diverted, clock.now())
    return verdict


async def trip(flt: BreakerFilter, ctx: FilterContext, make_env, clock: FakeClock) -> None:
    for _ in range(4):
        await send(flt, ctx, make_env("a"), clock, delivered=False)
    assert flt.state_of("a") == "open"


async def test_diverts_below_the_minimum_volume_do_not_trip(
    clock: FakeClock, ctx: FilterContext, make_env
) -> None:
    flt = BreakerFilter(breaker(), clock)
    for _ in range(3):
        assert await send(flt, ctx, make_env("a"), clock, delivered=False) is FORWARD
    assert flt.state_of("a") == "closed"
    # Enough volume, but mostly delivered: still closed.
    for n in range(12):
        await send(flt, ctx, make_env("q"), clock, delivered=n % 4 != 0)
    assert flt.state_of("q") == "closed"


async def test_an_ejected_sender_is_quarantined_for_the_cooldown_others_are_not(
    clock: FakeClock, ctx: FilterContext, make_env
) -> None:
    flt = BreakerFilter(breaker(), clock)
    await trip(flt, ctx, make_env, clock)
    verdict = await flt.decide(make_env("a"), "b", ctx)
    assert isinstance(verdict, Divert) and verdict.reason == "breaker-open"
    assert "ejection 1 for 5s" in verdict.detail
    assert await flt.decide(make_env("z"), "b", ctx) is FORWARD
    clock.advance(4.9)
    assert isinstance(await flt.decide(make_env("a"), "b", ctx), Divert)


async def test_half_open_probes_close_the_breaker_when_they_are_delivered(
    clock: FakeClock, ctx: FilterContext, make_env
) -> None:
    flt = BreakerFilter(breaker(), clock)
    await trip(flt, ctx, make_env, clock)
    clock.advance(5.0)
    probe1, probe2, extra = make_env("a"), make_env("a"), make_env("a")
    assert await flt.decide(probe1, "b", ctx) is FORWARD
    assert flt.state_of("a") == "half-open"
    assert await flt.decide(probe2, "b", ctx) is FORWARD
    assert isinstance(await flt.decide(extra, "b", ctx), Divert)  # only two probes
    flt.observe_outcome(extra, "b", True, clock.now())  # its own divert is no probe result
    flt.observe_outcome(probe1, "b", False, clock.now())
    assert flt.state_of("a") == "half-open"
    flt.observe_outcome(probe2, "b", False, clock.now())
    assert flt.state_of("a") == "closed"
    assert await send(flt, ctx, make_env("a"), clock) is FORWARD


async def test_a_failed_probe_ejects_again_for_longer_up_to_the_cap(
    clock: FakeClock, ctx: FilterContext, make_env
) -> None:
    flt = BreakerFilter(breaker(), clock)
    await trip(flt, ctx, make_env, clock)
    cooldowns = []
    for _ in range(3):
        opened = clock.now()
        while isinstance(await flt.decide(make_env("a"), "b", ctx), Divert):
            clock.advance(0.5)
        cooldowns.append(clock.now() - opened)
        probe = make_env("a")
        flt.observe_outcome(probe, "b", True, clock.now())  # not a probe: ignored
        assert flt.state_of("a") == "half-open"
        assert await flt.decide(probe, "b", ctx) is FORWARD
        flt.observe_outcome(probe, "b", True, clock.now())
        assert flt.state_of("a") == "open"
    assert cooldowns == pytest.approx([5.0, 10.0, 12.0])


async def test_ejections_are_forgiven_after_a_healthy_spell(
    clock: FakeClock, ctx: FilterContext, make_env
) -> None:
    flt = BreakerFilter(breaker(half_open_probes=1), clock)
    await trip(flt, ctx, make_env, clock)
    clock.advance(5.0)
    probe = make_env("a")
    await send(flt, ctx, probe, clock)
    assert flt.state_of("a") == "closed"
    clock.advance(20.0)  # four base ejections of good behaviour
    await trip(flt, ctx, make_env, clock)
    verdict = await flt.decide(make_env("a"), "b", ctx)
    assert isinstance(verdict, Divert) and "ejection 1 for 5s" in verdict.detail


async def test_a_busy_sender_in_an_oscillating_group_is_ejected(
    clock: FakeClock, ctx: FilterContext, sensors, make_env
) -> None:
    flt = BreakerFilter(breaker(max_oscillation=0.8, oscillation_sensor="pingpong_rate"), clock)
    sensors.values[("g", "pingpong_rate")] = 0.9
    verdicts = [await send(flt, ctx, make_env("a"), clock) for _ in range(5)]
    assert verdicts[:4] == [FORWARD] * 4  # not busy enough yet
    assert isinstance(verdicts[4], Divert) and "pingpong_rate=0.9" in verdicts[4].detail
    sensors.values[("g", "pingpong_rate")] = 0.1
    for _ in range(6):
        assert await send(flt, ctx, make_env("q"), clock) is FORWARD


async def test_lost_probes_are_replaced(clock: FakeClock, ctx: FilterContext, make_env) -> None:
    flt = BreakerFilter(breaker(half_open_probes=1), clock)
    await trip(flt, ctx, make_env, clock)
    clock.advance(5.0)
    assert await flt.decide(make_env("a"), "b", ctx) is FORWARD  # outcome never reported
    assert isinstance(await flt.decide(make_env("a"), "b", ctx), Divert)
    clock.advance(10.5)
    assert await flt.decide(make_env("a"), "b", ctx) is FORWARD


def test_the_sliding_count_weights_the_previous_bucket() -> None:
    count = SlidingCount(10.0)
    for t in range(10):
        count.add(float(t))
    assert count.value(9.0) == 10
    assert count.value(15.0) == pytest.approx(5.0)  # half the previous bucket overlaps
    assert count.value(35.0) == 0
