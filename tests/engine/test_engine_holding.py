"""The engine's held messages: rate shaping through the delay queue, order, accounting."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bus import headers as h
from bus.clock import FakeClock
from bus.engine.engine import Engine
from bus.engine.held import HeldMessage
from bus.engine.holding import Holding
from bus.engine.outcome import Outcome
from bus.envelope import Envelope, decode_envelope
from bus.metrics import Metrics
from bus.policy import PolicyHolder, load_policy

SHAPED = """
version: 1
agents: {alice: {}, bob: {}, carol: {}}
edges:
  - {name: alice-out, from: alice, to: [bob, carol]}
filters:
  - filter: rate
    rate: {rate}
    burst: 1
    per: edge
    max_delay: 1000
"""


def shaped_engine(tmp_path: Path, *, clock: FakeClock | None = None, **capacity: int) -> Engine:
    path = tmp_path / "rules.yaml"
    path.write_text(SHAPED.replace("{rate}", "1"))
    holder = PolicyHolder(load_policy(path))
    return Engine(holder, metrics=Metrics(), clock=clock or FakeClock(), **capacity)


def to(recipient: str, n: int) -> Envelope:
    return decode_envelope(sender="alice", headers=[(h.TO, recipient.encode()),
                                                    (h.ID, f"m{n}".encode())],
                           key=None, payload=str(n).encode())


def ids(outcomes: list[Outcome]) -> list[str]:
    return [o.env.msg_id for o in outcomes]


async def test_a_delayed_message_is_held_then_released(tmp_path: Path) -> None:
    clock = FakeClock()
    engine = shaped_engine(tmp_path, clock=clock)
    first = await engine.handle(to("bob", 1), origin="in-1")
    held = await engine.handle(to("bob", 2), origin="in-2")

    assert ids(first) == ["m1"] and held == []
    assert engine.pending_for("in-2") == 1 and engine.pending_for("in-1") == 0
    assert await engine.release_due() == []  # not yet due

    clock.advance(1.0)
    released = await engine.release_due()

    assert ids(released) == ["m2"]
    assert released[0].action == "forward" and released[0].origin == "in-2"
    assert engine.pending_for("in-2") == 0
    assert engine.held == 0
    assert engine.metrics.registry.get_sample_value(
        "membrane_messages_total", {"transport": "kafka", "outcome": "delayed"}) == 1


async def test_per_pair_order_holds_through_repeated_delays(tmp_path: Path) -> None:
    clock = FakeClock()
    engine = shaped_engine(tmp_path, clock=clock)
    outcomes: list[Outcome] = []
    for n in range(1, 9):
        outcomes += await engine.handle(to("bob", n))
        outcomes += await engine.handle(to("carol", n))
    while engine.held:
        clock.advance(0.5)
        outcomes += await engine.release_due()

    expected = [f"m{n}" for n in range(1, 9)]
    assert ids([o for o in outcomes if o.recipient == "bob"]) == expected
    assert ids([o for o in outcomes if o.recipient == "carol"]) == expected
    assert {o.action for o in outcomes} == {"forward"}


async def test_held_messages_keep_the_rate(tmp_path: Path) -> None:
    clock = FakeClock()
    engine = shaped_engine(tmp_path, clock=clock)
    for n in range(1, 5):
        await engine.handle(to("bob", n))
    released_at: dict[str, float] = {}
    while engine.held:
        clock.advance(0.25)
        for outcome in await engine.release_due():
            released_at[outcome.env.msg_id] = clock.now()
    assert released_at == {"m2": 1.0, "m3": 2.0, "m4": 3.0}


async def test_a_full_delay_queue_quarantines_instead_of_growing(tmp_path: Path) -> None:
    engine = shaped_engine(tmp_path, delay_capacity=10, per_flow_capacity=2)
    outcomes: list[Outcome] = []
    for n in range(1, 6):
        outcomes += await engine.handle(to("bob", n))

    # m1 passes, m2 and m3 are held, m4 and m5 find the pair's queue full.
    assert ids(outcomes) == ["m1", "m4", "m5"]
    full = [o for o in outcomes if o.action == "quarantine"]
    assert [o.reason for o in full] == ["delay-queue-full", "delay-queue-full"]
    assert all(dict(o.headers)[h.RECIPIENT] == b"bob" for o in full)
    assert engine.held == 2


async def test_discarding_held_messages_clears_their_accounting(tmp_path: Path) -> None:
    engine = shaped_engine(tmp_path)
    await engine.handle(to("bob", 1), origin="a")
    await engine.handle(to("bob", 2), origin="b")
    assert engine.pending_for("b") == 1

    assert engine.discard_held() == 1

    assert engine.pending_for("b") == 0 and engine.held == 0


async def test_the_timer_hands_released_messages_to_the_callback(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(SHAPED.replace("{rate}", "20"))
    engine = Engine(PolicyHolder(load_policy(path)), metrics=Metrics())  # the system clock
    got: list[Outcome] = []
    done = asyncio.Event()

    def on_release(outcomes: list[Outcome]) -> None:
        got.extend(outcomes)
        if len(got) >= 3:
            done.set()

    engine.on_release(on_release)
    async with engine:
        direct = []
        for n in range(1, 5):
            direct += await engine.handle(to("bob", n))
        await asyncio.wait_for(done.wait(), 10)
    assert ids(direct) == ["m1"]
    assert ids(got) == ["m2", "m3", "m4"]


def test_messages_arriving_mid_release_queue_behind_the_flow() -> None:
    holding = Holding(capacity=10, per_flow_capacity=10)
    flow = ("alice", "bob")

    def held(n: int) -> HeldMessage:
        return HeldMessage(to("bob", n), "bob", None, 0, f"in-{n}", 0.0, "r")

    assert holding.hold(flow, held(1), release_at=1.0)
    [(_, first)] = holding.begin_release(now=1.0, limit=10)
    assert holding.busy(flow)  # nothing of the flow is queued, yet it is busy

    assert holding.hold_behind(flow, held(2), now=1.0)
    assert holding.pending_for("in-2") == 1
    holding.requeue(flow, first, release_at=2.0)  # a filter delayed m1 again
    assert holding.end_release(now=1.0) == []

    [(_, again)] = holding.begin_release(now=2.0, limit=10)
    holding.end_release(now=2.0)
    [(_, second)] = holding.begin_release(now=2.0, limit=10)
    assert (again.env.msg_id, second.env.msg_id) == ("m1", "m2")
