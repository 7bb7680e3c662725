"""The chain runner: verdicts applied in order, shadow mode, error policy, metrics, feedback."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from bus import headers as h
from bus.clock import FakeClock
from bus.engine.chain import ChainRunner
from bus.engine.rewrite import apply_rewrite, strip_json_fields
from bus.envelope import Envelope
from bus.metrics import Metrics
from bus.verdict import FORWARD, Delay, Divert, Rewrite, Verdict
from filters.base import FilterConfig, FilterContext


class ScriptConfig(FilterConfig, frozen=True, tag="script"):
    pass


class Script:
    """A filter that returns a fixed verdict and records what it saw."""

    def __init__(
        self,
        verdict: Verdict,
        name: str,
        *,
        mode: str = "enforce",
        on_error: str = "open",
        timeout: float = 0.05,
    ) -> None:
        self._config = msgspec.convert(
            {"filter": "script", "name": name, "mode": mode, "on_error": on_error,
             "timeout": timeout},
            ScriptConfig,
        )
        self.verdict = verdict
        self.seen: list[Envelope] = []

    @property
    def config(self) -> FilterConfig:
        return self._config

    async def decide(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict:
        self.seen.append(env)
        return self.verdict


class Raises(Script):
    async def decide(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict:
        raise RuntimeError("boom")


class Sleeps(Script):
    async def decide(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict:
        await asyncio.sleep(5)
        return FORWARD


class AwaitsFirst(Script):
    """A filter that really waits on something before it answers."""

    async def decide(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict:
        await asyncio.sleep(0)
        await asyncio.sleep(0.001)
        return self.verdict


class Rechecks(Script):
    recheck_after_delay = True


class Protects(Script):
    async def decide(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict:
        ctx.protected = True
        return FORWARD


class Observer(Script):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(FORWARD, "observer")
        self.outcomes: list[tuple[str, str, bool, float]] = []

    def observe_outcome(self, env: Envelope, recipient: str, diverted: bool, now: float) -> None:
        self.outcomes.append((env.msg_id, recipient, diverted, now))


def envelope(**overrides: object) -> Envelope:
    fields: dict[str, object] = {"sender": "a", "payload": b'{"text": "hi", "stance": "yes"}',
                                 "msg_id": "m1"}
    fields.update(overrides)
    return Envelope(**fields)  # type: ignore[arg-type]


def ctx() -> FilterContext:
    return FilterContext(clock=FakeClock())


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_forwarded_after_every_filter_says_forward() -> None:
    first, second = Script(FORWARD, "one"), Script(FORWARD, "two")
    outcome = await ChainRunner([first, second], metrics=None, clock=FakeClock()).run(
        envelope(), "b", ctx()
    )
    assert outcome.verdict is FORWARD
    assert outcome.filter is None and outcome.resume == 2
    assert len(first.seen) == len(second.seen) == 1


async def test_divert_stops_the_chain_and_names_the_filter() -> None:
    later = Script(FORWARD, "later")
    chain = ChainRunner([Script(Divert("rate-limit", "too fast"), "rate"), later],
                        metrics=None, clock=FakeClock())
    outcome = await chain.run(envelope(), "b", ctx())
    assert outcome.verdict == Divert("rate-limit", "too fast")
    assert outcome.filter == "rate"
    assert later.seen == []


async def test_delay_stops_and_resume_continues_after_the_delaying_filter() -> None:
    first, delayer, last = Script(FORWARD, "one"), Script(Delay(2.0, "r"), "d"), Script(
        FORWARD, "three")
    chain = ChainRunner([first, delayer, last], metrics=None, clock=FakeClock())
    outcome = await chain.run(envelope(), "b", ctx())
    assert outcome.verdict == Delay(2.0, "r") and outcome.filter == "d"
    assert outcome.resume == 2 and last.seen == []
    resumed = await chain.run(outcome.env, "b", ctx(), start=outcome.resume)
    assert resumed.verdict is FORWARD
    assert len(first.seen) == 1 and len(delayer.seen) == 1 and len(last.seen) == 1


async def test_a_rechecking_filter_is_asked_again_after_its_delay() -> None:
    chain = ChainRunner([Script(FORWARD, "one"), Rechecks(Delay(1.0), "hold")],
                        metrics=None, clock=FakeClock())
    outcome = await chain.run(envelope(), "b", ctx())
    assert outcome.resume == 1


async def test_rewrite_continues_with_a_copy_and_leaves_the_original_alone() -> None:
    original = envelope(stance="yes", extra_headers=(("x-keep", b"1"), ("x-drop", b"2")))
    rewrite = Rewrite({h.STANCE: None, "x-drop": None, "x-new": "3"}, strip_fields=("stance",))
    after = Script(FORWARD, "after")
    outcome = await ChainRunner([Script(rewrite, "blind"), after], metrics=None,
                                clock=FakeClock()).run(original, "b", ctx())
    assert outcome.verdict is FORWARD
    seen = after.seen[0]
    assert seen is outcome.env and seen is not original
    assert seen.stance is None and msgspec.json.decode(seen.payload or b"") == {"text": "hi"}
    assert seen.extra_headers == (("x-keep", b"1"), ("x-new", b"3"))
    assert original.stance == "yes" and b"stance" in (original.payload or b"")


async def test_shadow_filters_are_counted_but_never_change_the_outcome() -> None:
    metrics = Metrics()
    chain = ChainRunner(
        [Script(Divert("cycle"), "hops", mode="shadow"),
         Script(Rewrite({h.STANCE: None}), "blind", mode="shadow"),
         Script(FORWARD, "rate")],
        metrics=metrics, clock=FakeClock(),
    )
    original = envelope(stance="yes")
    outcome = await chain.run(original, "b", ctx())
    assert outcome.verdict is FORWARD and outcome.env.stance == "yes"
    assert outcome.shadowed == "hops"
    assert sample(metrics, "membrane_filter_verdicts_total",
                  filter="hops", verdict="divert", mode="shadow") == 1
    assert sample(metrics, "membrane_filter_verdicts_total",
                  filter="rate", verdict="forward", mode="enforce") == 1
    assert sample(metrics, "membrane_filter_duration_seconds_count", filter="rate") == 1


@pytest.mark.parametrize("broken", [Raises, Sleeps])
async def test_a_failing_filter_follows_its_error_policy(broken: type[Script]) -> None:
    metrics = Metrics()
    fail_open = ChainRunner([broken(FORWARD, "weak", on_error="open", timeout=0.01)],
                            metrics=metrics, clock=FakeClock())
    assert (await fail_open.run(envelope(), "b", ctx())).verdict is FORWARD
    fail_closed = ChainRunner([broken(FORWARD, "strict", on_error="closed", timeout=0.01)],
                              metrics=metrics, clock=FakeClock())
    outcome = await fail_closed.run(envelope(), "b", ctx())
    assert isinstance(outcome.verdict, Divert)
    assert outcome.verdict.reason == "filter-error" and outcome.filter == "strict"
    assert sample(metrics, "membrane_filter_errors_total", filter="weak", policy="open") == 1
    assert sample(metrics, "membrane_filter_errors_total", filter="strict", policy="closed") == 1


async def test_a_non_verdict_and_a_forbidden_rewrite_count_as_failures() -> None:
    not_a_verdict = Script(None, "sloppy", on_error="closed")  # type: ignore[arg-type]
    outcome = await ChainRunner([not_a_verdict], metrics=None, clock=FakeClock()).run(
        envelope(), "b", ctx())
    assert isinstance(outcome.verdict, Divert) and outcome.verdict.reason == "filter-error"
    forges = Script(Rewrite({h.FROM: "admin"}), "forger", on_error="closed")
    outcome = await ChainRunner([forges], metrics=None, clock=FakeClock()).run(
        envelope(), "b", ctx())
    assert isinstance(outcome.verdict, Divert) and "membrane-from" in outcome.verdict.detail


async def test_a_protected_message_is_not_delayed_by_later_filters() -> None:
    metrics = Metrics()
    chain = ChainRunner([Protects(FORWARD, "dissent"), Script(Delay(3.0), "pingpong")],
                        metrics=metrics, clock=FakeClock())
    context = ctx()
    assert (await chain.run(envelope(), "b", context)).verdict is FORWARD
    assert sample(metrics, "membrane_filter_verdicts_total",
                  filter="pingpong", verdict="delay", mode="exempt") == 1
    # A shadow filter's mark is ignored like the rest of what it says.
    shadow = ChainRunner([Protects(FORWARD, "dissent", mode="shadow"), Script(Delay(3.0), "pp")],
                         metrics=None, clock=FakeClock())
    assert isinstance((await shadow.run(envelope(), "b", ctx())).verdict, Delay)
    # The mark does not outlive the run it was set in.
    plain = ChainRunner([Script(Delay(3.0), "pingpong")], metrics=None, clock=FakeClock())
    assert isinstance((await plain.run(envelope(), "b", context)).verdict, Delay)


async def test_observers_hear_the_final_outcome_once() -> None:
    clock = FakeClock(7.0)
    observer = Observer()
    forwarding = ChainRunner([observer], metrics=None, clock=clock)
    await forwarding.run(envelope(msg_id="f"), "b", ctx())
    diverting = ChainRunner([observer, Script(Divert("x"), "x")], metrics=None, clock=clock)
    await diverting.run(envelope(msg_id="d"), "b", ctx())
    delaying = ChainRunner([observer, Script(Delay(1.0), "d")], metrics=None, clock=clock)
    held = await delaying.run(envelope(msg_id="h"), "b", ctx())
    assert observer.outcomes == [("f", "b", False, 7.0), ("d", "b", True, 7.0)]
    delaying.observe(held.env, "b", diverted=True)  # e.g. the delay queue was full
    assert observer.outcomes[-1] == ("h", "b", True, 7.0)


def test_strip_json_fields_leaves_non_objects_alone() -> None:
    assert strip_json_fields(b"plain text", ("stance",)) == b"plain text"
    assert strip_json_fields(b"[1, 2]", ("stance",)) == b"[1, 2]"
    assert strip_json_fields(b"{broken", ("stance",)) == b"{broken"
    assert strip_json_fields(None, ("stance",)) is None
    assert msgspec.json.decode(strip_json_fields(b'{"vote": 1, "a": 2}', ("vote",)) or b"") == {
        "a": 2}


def test_rewrite_sets_kind_and_keeps_identity() -> None:
    env = envelope(kind="opinion", hops=2, path=("x", "y"))
    out = apply_rewrite(env, Rewrite({h.KIND: "summary"}))
    assert (out.kind, out.msg_id, out.hops, out.path, out.sender) == (
        "summary", env.msg_id, 2, ("x", "y"), "a")


async def test_a_filter_that_awaits_is_driven_to_its_verdict_under_the_time_bound() -> None:
    chain = ChainRunner([AwaitsFirst(FORWARD, "slowish", timeout=5.0),
                         AwaitsFirst(Divert("late", "x"), "then-divert", timeout=5.0)],
                        metrics=None, clock=FakeClock())
    outcome = await chain.run(envelope(), "b", ctx())
    assert outcome.verdict == Divert("late", "x") and outcome.filter == "then-divert"


async def test_cancelling_the_caller_is_not_mistaken_for_a_filter_failure() -> None:
    metrics = Metrics()
    chain = ChainRunner([Sleeps(FORWARD, "sleeper", timeout=10.0, on_error="closed")],
                        metrics=metrics, clock=FakeClock())
    task = asyncio.ensure_future(chain.run(envelope(), "b", ctx()))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sample(metrics, "membrane_filter_errors_total", filter="sleeper", policy="closed") == 0
