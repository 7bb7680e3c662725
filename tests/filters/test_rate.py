"""Rate filter: GCRA per sender, edge or group; shape then divert, or police."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.clock import FakeClock
from bus.envelope import Envelope
from bus.verdict import FORWARD, Delay, Divert
from filters.base import FilterContext
from filters.rate import RateConfig, RateFilter
from filters.registry import AnyFilterConfig


def rate(**fields: object) -> RateConfig:
    return msgspec.convert({"filter": "rate", **fields}, RateConfig)


async def test_shape_lets_the_burst_through_then_spaces_and_finally_diverts(
    clock: FakeClock, ctx: FilterContext, make_env
) -> None:
    flt = RateFilter(rate(rate=2.0, burst=3, max_delay=1.0), clock)
    verdicts = [await flt.decide(make_env("a"), "b", ctx) for _ in range(6)]
    assert verdicts[:3] == [FORWARD, FORWARD, FORWARD]
    assert verdicts[3] == Delay(0.5, "rate-limit")
    assert verdicts[4] == Delay(1.0, "rate-limit")
    assert isinstance(verdicts[5], Divert) and verdicts[5].reason == "rate-limit"
    clock.advance(1.0)
    # The two reserved slots are used up by the delayed messages: the next waits.
    assert await flt.decide(make_env("a"), "b", ctx) == Delay(0.5, "rate-limit")


async def test_police_diverts_at_once_and_recovers_with_time(
    clock: FakeClock, ctx: FilterContext, make_env
) -> None:
    flt = RateFilter(rate(rate=1.0, burst=1, action="police"), clock)
    assert await flt.decide(make_env("a"), "b", ctx) is FORWARD
    assert isinstance(await flt.decide(make_env("a"), "b", ctx), Divert)
    clock.advance(1.0)
    assert await flt.decide(make_env("a"), "b", ctx) is FORWARD


@pytest.mark.parametrize(
    ("per", "second_is_limited"),
    [("sender", True), ("edge", False), ("group", True)],
)
async def test_the_key_decides_who_shares_a_bucket(
    clock: FakeClock, ctx: FilterContext, make_env, per: str, second_is_limited: bool
) -> None:
    flt = RateFilter(rate(rate=1.0, burst=1, action="police", per=per), clock)
    assert await flt.decide(make_env("a"), "b", ctx) is FORWARD
    # The same sender to another recipient: limited unless buckets are per edge.
    verdict = await flt.decide(make_env("a"), "c", ctx)
    assert isinstance(verdict, Divert) is second_is_limited
    # Another sender in the same group: limited only when the group shares one bucket.
    other = await flt.decide(make_env("z"), "b", ctx)
    assert isinstance(other, Divert) is (per == "group")


async def test_keys_are_bounded_and_idle_ones_forgotten(
    clock: FakeClock, ctx: FilterContext, make_env
) -> None:
    flt = RateFilter(rate(rate=10.0, burst=1, max_keys=3, max_delay=0.0), clock)
    for sender in "abcdef":
        await flt.decide(make_env(sender), "x", ctx)
    assert len(flt) == 3
    clock.advance(60)
    await flt.decide(make_env("q"), "x", ctx)
    assert len(flt) <= 2  # expired entries go as new ones arrive


def test_config_errors_name_the_field() -> None:
    with pytest.raises(msgspec.ValidationError, match="rate must be greater than 0"):
        msgspec.convert({"filter": "rate", "rate": 0}, AnyFilterConfig)
    with pytest.raises(msgspec.ValidationError, match=r"\$\.action"):
        msgspec.convert({"filter": "rate", "action": "throttle"}, AnyFilterConfig)
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.convert({"filter": "rate", "rates": 3}, AnyFilterConfig)


gaps = st.lists(st.floats(min_value=0.0, max_value=2.0), min_size=1, max_size=80)


@settings(max_examples=120, deadline=None)
@given(
    gaps,
    st.floats(min_value=0.5, max_value=50.0),
    st.integers(min_value=1, max_value=8),
    st.floats(min_value=0.0, max_value=3.0),
    st.sampled_from(["shape", "police"]),
)
async def test_the_rate_is_never_exceeded_over_any_window(
    arrivals: list[float], limit: float, burst: int, max_delay: float, action: str
) -> None:
    clock = FakeClock()
    ctx = FilterContext(clock=clock)
    flt = RateFilter(rate(rate=limit, burst=burst, max_delay=max_delay, action=action), clock)
    emitted: list[float] = []
    for gap in arrivals:
        clock.advance(gap)
        verdict = await flt.decide(Envelope(sender="a", payload=b""), "b", ctx)
        if verdict is FORWARD:
            emitted.append(clock.now())
        elif isinstance(verdict, Delay):
            assert verdict.seconds <= max_delay + 1e-9
            emitted.append(clock.now() + verdict.seconds)
    emitted.sort()
    for i, start in enumerate(emitted):
        for j in range(i, len(emitted)):
            window = emitted[j] - start
            assert j - i + 1 <= burst + window * limit + 1e-6
