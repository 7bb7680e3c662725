"""Echo filter: repeated content per edge or group, and an agent's own echo."""

from __future__ import annotations

import msgspec

from bus.clock import FakeClock
from bus.verdict import FORWARD, Divert
from filters.base import FilterContext
from filters.content import content_digest
from filters.echo import EchoConfig, EchoFilter


def echo(**fields: object) -> EchoConfig:
    return msgspec.convert({"filter": "echo", **fields}, EchoConfig)


def reason(verdict: object) -> str | None:
    return verdict.reason if isinstance(verdict, Divert) else None


def test_the_digest_ignores_dress_but_not_substance() -> None:
    same = [
        b'{"text": "Thank  you!", "id": 1, "n": [1, 2]}',
        b'{"n":[1,2],"id":2,"text":"thank you!"}',
        b'  {"text": "THANK\\tYOU!", "n": [1, 2], "ts": 5}',
    ]
    assert len({content_digest(p, ("id", "ts")) for p in same}) == 1
    assert content_digest(b"Hello   World", ()) == content_digest(b" hello world\n", ())
    assert content_digest(b'{"n": [2, 1]}', ()) != content_digest(b'{"n": [1, 2]}', ())
    assert content_digest(b"\xff\xfe", ()) != content_digest(b"\xfe\xff", ())
    assert content_digest(b"{not json", ()) == content_digest(b"{NOT   json", ())


async def test_a_repeat_on_the_same_edge_within_the_window_is_diverted(
    clock: FakeClock, ctx: FilterContext, make_env
) -> None:
    flt = EchoFilter(echo(window=10.0), clock)
    assert await flt.decide(make_env("a", b"Thanks!"), "b", ctx) is FORWARD
    clock.advance(5)
    assert reason(await flt.decide(make_env("a", b"  thanks! "), "b", ctx)) == "echo"
    assert await flt.decide(make_env("a", b"thanks!"), "c", ctx) is FORWARD  # another edge
    # Each repeat restarts the window; a quiet spell longer than it clears it.
    clock.advance(9)
    assert reason(await flt.decide(make_env("a", b"thanks!"), "b", ctx)) == "echo"
    clock.advance(10.5)
    assert await flt.decide(make_env("a", b"thanks!"), "b", ctx) is FORWARD


async def test_per_group_catches_the_same_content_from_anyone_in_the_group(
    clock: FakeClock, ctx: FilterContext, make_env
) -> None:
    flt = EchoFilter(echo(per="group", own_echo=False), clock)
    first = make_env("a", b"status: ok")
    # Every recipient of the first copy receives it.
    assert [await flt.decide(first, r, ctx) for r in ("b", "c")] == [FORWARD, FORWARD]
    repeat = make_env("b", b"STATUS: OK")
    verdicts = [await flt.decide(repeat, r, ctx) for r in ("a", "c")]
    assert [reason(v) for v in verdicts] == ["echo", "echo"]


async def test_an_agent_echoing_what_it_received_is_diverted(
    clock: FakeClock, ctx: FilterContext, make_env
) -> None:
    flt = EchoFilter(echo(window=30.0), clock)
    told = make_env("a", b'{"text": "the answer is 42"}')
    assert await flt.decide(told, "b", ctx) is FORWARD
    flt.observe_outcome(told, "b", False, clock.now())
    clock.advance(1)
    back = make_env("b", b'{"text": "The answer is 42"}')
    assert reason(await flt.decide(back, "a", ctx)) == "echo-own"
    assert reason(await flt.decide(back, "c", ctx)) == "echo-own"
    # Content that was never delivered (diverted, or to a channel) is not an echo.
    lost = make_env("a", b"secret")
    flt.observe_outcome(lost, "c", True, clock.now())
    flt.observe_outcome(lost, "#all", False, clock.now())
    assert await flt.decide(make_env("c", b"secret"), "a", ctx) is FORWARD
    clock.advance(31)
    assert await flt.decide(make_env("b", b"the answer is 42"), "z", ctx) is FORWARD


async def test_short_payloads_are_never_echoes_and_memory_is_bounded(
    clock: FakeClock, ctx: FilterContext, make_env
) -> None:
    flt = EchoFilter(echo(min_length=3, max_entries=4), clock)
    assert await flt.decide(make_env("a", b"ok"), "b", ctx) is FORWARD
    assert await flt.decide(make_env("a", b"ok"), "b", ctx) is FORWARD
    for n in range(10):
        await flt.decide(make_env("a", f"message {n}".encode()), "b", ctx)
    # The oldest were evicted, so an early message is no longer remembered.
    assert await flt.decide(make_env("a", b"message 0"), "b", ctx) is FORWARD
    assert reason(await flt.decide(make_env("a", b"message 9"), "b", ctx)) == "echo"
