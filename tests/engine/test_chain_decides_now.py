"""Filters that never wait (``DecidesNow``) are called as plain methods, with the same rules."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from bus.clock import FakeClock
from bus.engine.chain import DURATION_SAMPLE_EVERY, ChainOutcome, ChainRunner
from bus.envelope import Envelope
from bus.metrics import Metrics
from bus.verdict import FORWARD, Delay, Divert, Verdict
from filters.base import DecidesNow, FilterConfig, FilterContext
from filters.hops import HopsConfig, HopsFilter
from filters.registry import REGISTRY, build_filter


class NowConfig(FilterConfig, frozen=True, tag="now"):
    pass


class Now:
    """A filter whose coroutine ``decide`` must never be used by the chain."""

    def __init__(self, answer: object, name: str, on_error: str = "open") -> None:
        self._config = msgspec.convert(
            {"filter": "now", "name": name, "on_error": on_error}, NowConfig)
        self.answer = answer
        self.calls = 0

    @property
    def config(self) -> FilterConfig:
        return self._config

    async def decide(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict:
        raise AssertionError("the chain should have called decide_now")

    def decide_now(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict:
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer  # type: ignore[return-value]


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def run(chain: ChainRunner) -> ChainOutcome:
    env = Envelope(sender="a", payload=b"{}", msg_id="m")
    return asyncio.run(chain.run(env, "b", FilterContext(clock=FakeClock())))


def test_every_built_in_filter_decides_without_waiting() -> None:
    clock = FakeClock()
    for name, (config_type, _) in REGISTRY.items():
        assert isinstance(build_filter(config_type(), clock), DecidesNow), name


def test_decide_and_decide_now_agree() -> None:
    hops = HopsFilter(HopsConfig(max_hops=2))
    ctx = FilterContext(clock=FakeClock())
    for env in (Envelope(sender="a", payload=b"x", hops=1),
                Envelope(sender="a", payload=b"x", hops=2),
                Envelope(sender="a", payload=b"x", path=("b",))):
        assert asyncio.run(hops.decide(env, "b", ctx)) == hops.decide_now(env, "b", ctx)


def test_the_chain_calls_decide_now_and_applies_its_verdicts() -> None:
    first, second = Now(FORWARD, "first"), Now(Delay(1.0, "slow"), "second")
    outcome = run(ChainRunner([first, second], metrics=None, clock=FakeClock()))
    assert outcome.verdict == Delay(1.0, "slow")
    assert outcome.filter == "second" and (first.calls, second.calls) == (1, 1)


@pytest.mark.parametrize("answer", [RuntimeError("boom"), "not a verdict"])
def test_a_failure_in_decide_now_follows_the_error_policy(answer: object) -> None:
    metrics = Metrics()
    opened = run(ChainRunner([Now(answer, "weak")], metrics=metrics, clock=FakeClock()))
    assert opened.verdict is FORWARD
    closed = run(ChainRunner([Now(answer, "strict", on_error="closed")], metrics=metrics,
                             clock=FakeClock()))
    assert isinstance(closed.verdict, Divert)
    assert closed.verdict.reason == "filter-error"
    assert sample(metrics, "membrane_filter_errors_total", filter="weak", policy="open") == 1
    assert sample(metrics, "membrane_filter_errors_total", filter="strict", policy="closed") == 1


def test_every_verdict_is_counted_and_one_call_in_n_is_timed() -> None:
    metrics = Metrics()
    chain = ChainRunner([Now(FORWARD, "counted")], metrics=metrics, clock=FakeClock())
    ctx = FilterContext(clock=FakeClock())
    calls = 3 * DURATION_SAMPLE_EVERY + 1
    for i in range(calls):
        asyncio.run(chain.run(Envelope(sender="a", payload=b"{}", msg_id=str(i)), "b", ctx))
    assert sample(metrics, "membrane_filter_verdicts_total",
                  filter="counted", verdict="forward", mode="enforce") == calls
    assert sample(metrics, "membrane_filter_duration_seconds_count", filter="counted") == 4
