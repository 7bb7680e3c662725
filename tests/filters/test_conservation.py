"""Conservation: every input is forwarded now, delivered after a delay, or diverted.

A small driver plays the engine's part around the real chain runner, real
filters and the real delay queue: run the chain; hold delayed messages;
queue a message behind its flow's held ones; release due messages and
resume their chains, re-holding (``requeue``) those delayed again; divert
what the queue refuses. Hypothesis generates the traffic and the sizes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.clock import FakeClock
from bus.engine.chain import ChainOutcome, ChainRunner
from bus.engine.delay_queue import DelayQueue
from bus.engine.filter_set import FilterSet
from bus.envelope import Envelope
from bus.verdict import Delay, Divert
from filters.base import FilterConfig, FilterContext
from filters.registry import AnyFilterConfig

CHAIN = [
    {"filter": "breaker", "window": 5.0, "min_volume": 5, "base_ejection": 2.0,
     "max_ejection": 6.0, "half_open_probes": 1},
    {"filter": "echo", "window": 3.0},
    {"filter": "conformity", "round_timeout": 1.5, "poll_interval": 0.4},
    {"filter": "pingpong", "threshold": 2, "base_delay": 0.2, "max_delay": 1.5, "seed": 1},
    {"filter": "rate", "rate": 4.0, "burst": 2, "max_delay": 1.0, "per": "edge"},
    {"filter": "homeostat", "setpoint": 3.0, "band": 0.5, "min_rate": 1.0, "max_rate": 8.0,
     "burst": 2, "max_delay": 1.0},
]

Item = tuple[Envelope, str, int]  # envelope, recipient, index to resume at


class Driver:
    def __init__(self, chain: ChainRunner, queue: DelayQueue[Item], clock: FakeClock) -> None:
        self.chain, self.queue, self.clock = chain, queue, clock
        self.ctx = FilterContext(clock=clock, group="g", group_size=3)
        self.tally: Counter[str] = Counter()

    async def offer(self, env: Envelope, recipient: str) -> None:
        flow = (env.sender, recipient)
        if self.queue.holds(flow):
            self.hold(flow, (env, recipient, 0), self.clock.now(), behind=True)
            return
        outcome = await self.chain.run(env, recipient, self.ctx)
        self.settle(flow, env, recipient, outcome, delayed=False)

    async def release(self) -> None:
        while batch := self.queue.pop_due(self.clock.now(), limit=3):
            for flow, (env, recipient, resume) in batch:
                outcome = await self.chain.run(env, recipient, self.ctx, start=resume)
                self.settle(flow, env, recipient, outcome, delayed=True)

    def settle(self, flow: Hashable, env: Envelope, recipient: str, outcome: ChainOutcome,
               *, delayed: bool) -> None:
        if isinstance(outcome.verdict, Divert):
            self.tally["diverted"] += 1
        elif isinstance(outcome.verdict, Delay):
            item = (outcome.env, recipient, outcome.resume)
            self.hold(flow, item, self.clock.now() + outcome.verdict.seconds, requeue=delayed)
        else:
            self.tally["delivered-after-delay" if delayed else "forwarded"] += 1

    def hold(self, flow: Hashable, item: Item, release_at: float, *, behind: bool = False,
             requeue: bool = False) -> None:
        if requeue:
            self.queue.requeue(flow, item, release_at)
        elif not self.queue.push(flow, item, release_at):
            self.chain.observe(item[0], item[1], diverted=True)
            self.tally["diverted"] += 1  # reason delay-queue-full


def build_chain(clock: FakeClock) -> ChainRunner:
    configs: tuple[FilterConfig, ...] = tuple(
        msgspec.convert(c, AnyFilterConfig) for c in CHAIN  # type: ignore[misc]
    )
    return FilterSet(clock).chain_for(configs)


traffic = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=0.6),  # gap before the message
        st.sampled_from("abc"),  # sender
        st.sampled_from("abc#"),  # recipient ('#' = a shared channel)
        st.sampled_from([b"ok then", b"thank you", b'{"n": 1}', b"new idea"]),
        st.sampled_from([None, "yes", "no"]),  # stance
    ),
    min_size=1,
    max_size=120,
)


@settings(max_examples=60, deadline=None)
@given(traffic, st.integers(1, 30), st.integers(1, 6))
async def test_forwarded_plus_delivered_after_delay_plus_diverted_equals_input(
    messages: list[tuple[float, str, str, bytes, str | None]], capacity: int, per_flow: int
) -> None:
    clock = FakeClock()
    driver = Driver(build_chain(clock), DelayQueue(capacity, per_flow), clock)
    for n, (gap, sender, recipient, payload, stance) in enumerate(messages):
        clock.advance(gap)
        await driver.release()
        to = "#all" if recipient == "#" else recipient
        env = Envelope(sender=sender, payload=payload, msg_id=f"m{n}", stance=stance)
        await driver.offer(env, to)
    while (due := driver.queue.next_due()) is not None:
        clock.advance(max(0.0, due - clock.now()))
        await driver.release()

    assert len(driver.queue) == 0
    assert sum(driver.tally.values()) == len(messages)
