"""Playing a swarm in logical rounds over a transport.

Round r: the logical clock (the one membrane's filters and sensors read) is
set to ``r * seconds_per_round`` and the transport settles once, so that
membrane releases the held messages due by then; every agent then steps
concurrently, as its own asyncio task, on what was delivered to it since its
last step; what they return is sent; then the transport settles again
(membrane has decided everything and the results are read back). Releases
and new messages never interleave, each round ends at a barrier, and inboxes
are read in a fixed order, so the outcome depends on the seed alone, not on
how the broker interleaved the records.

After the last round the clock keeps jumping to the next release time until
membrane holds nothing, so the books can balance: a message still held when
the run ends is neither lost nor counted twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from bus.clock import FakeClock
from bus.errors import UpstreamError
from bus.sim.ledger import Ledger
from bus.sim.messages import Incoming, Outgoing
from bus.sim.scenario import Swarm

RoundCallback = Callable[[int, Mapping[str, float]], None]
MAX_DRAIN_STEPS = 100_000


class Transport(Protocol):
    @property
    def ledger(self) -> Ledger: ...

    @property
    def held(self) -> int: ...

    def next_release(self) -> float | None: ...

    async def send(self, sender: str, round_no: int, messages: Sequence[Outgoing]) -> None: ...

    async def settle(self) -> dict[str, list[Incoming]]: ...


class RunRecord:
    """What one run measured: per-round series, final summary, and the books."""

    __slots__ = ("ledger", "series", "summary", "wall_seconds")

    def __init__(self, series: list[dict[str, float]], summary: dict[str, float], ledger: Ledger,
                 wall_seconds: float) -> None:
        self.series = series
        self.summary = summary
        self.ledger = ledger
        self.wall_seconds = wall_seconds


def set_clock(clock: FakeClock, at: float) -> None:
    if at > clock.now():
        clock.advance(at - clock.now())


async def play(swarm: Swarm, transport: Transport, clock: FakeClock,
               on_round: RoundCallback | None = None, pace: float = 0.0) -> RunRecord:
    """Play every round; ``pace`` stretches each round to at least that many wall seconds
    (for watching a demo; results do not depend on it)."""
    started = time.perf_counter()
    ledger = transport.ledger
    agents = list(swarm.agents)
    inboxes: dict[str, list[Incoming]] = {}
    series: list[dict[str, float]] = []
    for round_no in range(swarm.rounds):
        set_clock(clock, round_no * swarm.seconds_per_round)
        inboxes = merge(inboxes, await transport.settle())
        replies = await asyncio.gather(
            *(agent.step(round_no, inboxes.get(agent.name, [])) for agent in agents))
        for agent, messages in zip(agents, replies, strict=True):
            if messages:
                await transport.send(agent.name, round_no, messages)
        inboxes = await transport.settle()
        point = {"round": float(round_no), **swarm.observe(round_no),
                 "sent": float(ledger.sent), "delivered": float(ledger.delivered),
                 "quarantined": float(ledger.quarantined), "held": float(transport.held),
                 "tokens": float(ledger.tokens_delivered)}
        series.append(point)
        if on_round is not None:
            on_round(round_no, point)
        if pace > 0:
            await asyncio.sleep(max(0.0, started + (round_no + 1) * pace - time.perf_counter()))
    await drain(transport, clock)
    summary = {**swarm.summary(), "sent": float(ledger.sent),
               "delivered": float(ledger.delivered), "quarantined": float(ledger.quarantined),
               "tokens": float(ledger.tokens_delivered)}
    return RunRecord(series, summary, ledger, time.perf_counter() - started)


def merge(first: dict[str, list[Incoming]], second: dict[str, list[Incoming]]
          ) -> dict[str, list[Incoming]]:
    """Both deliveries per agent, in reading order."""
    if not second:
        return first
    merged = {agent: list(messages) for agent, messages in first.items()}
    for agent, messages in second.items():
        merged.setdefault(agent, []).extend(messages)
        merged[agent].sort(key=lambda m: m.order)
    return merged


async def drain(transport: Transport, clock: FakeClock) -> None:
    """Release everything still held by jumping the clock to each release time."""
    for _ in range(MAX_DRAIN_STEPS):
        release_at = transport.next_release()
        if release_at is None:
            return
        set_clock(clock, release_at)
        await transport.settle()
    raise UpstreamError(f"membrane still holds {transport.held} messages after draining",
                        retriable=False)
