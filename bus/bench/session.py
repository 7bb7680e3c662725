"""One configuration on the broker: its topics, its children, its sender and its collector.

A session creates a workload's topics, starts the collector on the inboxes,
starts the children under test and waits until each is ready (relays: members
of their consumer group, so two relays share the outboxes from the first
message on), and
then runs phases, each a fresh range of sequence numbers:

- ``saturation``: a burst written as fast as the producer batches. Through
  a relay, the rate is taken over the messages that arrive after the burst
  was fully written (the relay drains a backlog and competes with nothing
  else of the benchmark); otherwise (direct, or through a gateway, which
  acknowledges a write only once it forwarded it) it is the whole burst
  divided by the time from its first write to its last arrival. CPU
  seconds of the children are read before and after, per child.
- ``fixed_load``: messages sent at a fixed rate for a few seconds; the
  latency percentiles are over every message of the phase.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from pathlib import Path

from bus.bench import children as ch
from bus.bench.collector import Collector, Phase
from bus.bench.sender import Sender
from bus.bench.workload import Route, Workload
from bus.errors import MembraneError

MIN_SHARE_AFTER_BURST = 0.25  # below this, the relay kept up with the writer


class PhaseLost(MembraneError):
    """Not every message of a phase arrived in time."""


class Saturation:
    __slots__ = ("cpu_by_child", "lost", "msgs_per_s", "received")

    def __init__(self, msgs_per_s: float, cpu_by_child: list[float], received: int, lost: int
                 ) -> None:
        self.msgs_per_s = msgs_per_s
        self.cpu_by_child = cpu_by_child
        self.received = received
        self.lost = lost

    @property
    def cpu_seconds(self) -> float:
        return sum(self.cpu_by_child)

    @property
    def cpu_s_per_million(self) -> float:
        return self.cpu_seconds / self.received * 1e6 if self.received else math.nan


class Session:
    """See the module docstring. ``sender_bootstrap`` is where messages are written
    (a gateway's address); the collector always reads the broker itself."""

    def __init__(
        self,
        bootstrap: str,
        workload: Workload,
        route: Route,
        specs: Sequence[ch.ChildSpec] = (),
        *,
        workdir: Path,
        sender_bootstrap: str | None = None,
        timeout: float = 120.0,
    ) -> None:
        self.bootstrap = bootstrap
        self.workload = workload
        self.route = route
        self._specs = list(specs)
        self._workdir = workdir
        self._sender_bootstrap = sender_bootstrap or bootstrap
        self.timeout = timeout
        self.children: list[ch.Child] = []
        self.collector = Collector(bootstrap, workload.inbox_topics)
        self._next_seq = 0
        self.lost = 0

    async def open(self) -> None:
        async with Sender(self.bootstrap, self.workload, "direct") as sender:
            await sender.touch(self.workload.inbox_topics + self.workload.outbox_topics)
        await self.collector.start()
        # Started together: relays of one consumer group then join one generation.
        started = await asyncio.gather(
            *(ch.start(spec, self._workdir, self.timeout) for spec in self._specs),
            return_exceptions=True)
        self.children = [child for child in started if isinstance(child, ch.Child)]
        for failure in started:
            if isinstance(failure, BaseException):
                raise failure

    async def close(self) -> None:
        await ch.stop(self.children)
        await self.collector.stop()

    async def __aenter__(self) -> Session:
        try:
            await self.open()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def duplicates(self) -> int:
        return self.collector.duplicates

    def cpu_seconds(self) -> list[float]:
        """CPU seconds used so far by each child."""
        return [child.cpu_seconds() for child in self.children]

    def peak_rss_bytes(self) -> int:
        return max((child.peak_rss_bytes() for child in self.children), default=0)

    def _phase(self, count: int) -> Phase:
        phase = self.collector.phase(self._next_seq, count)
        self._next_seq += count
        return phase

    async def _await(self, phase: Phase) -> None:
        if not await self.collector.wait_for(phase, self.timeout, self._check_children):
            self.lost += phase.expected - phase.received
            raise PhaseLost(f"{phase.expected - phase.received} of {phase.expected} messages "
                            f"did not arrive within {self.timeout:.0f}s")

    def _check_children(self) -> None:
        for child in self.children:
            if child.process.returncode is not None:
                raise child.failure(f"exited with status {child.process.returncode}")

    async def warm_up(self, count: int) -> None:
        """Carry ``count`` messages before measuring (connections, caches, dedupe seeding)."""
        phase = self._phase(count)
        async with Sender(self._sender_bootstrap, self.workload, self.route) as sender:
            await sender.burst(phase.first, count)
        await self._await(phase)

    async def saturation(self, count: int, workload: Workload | None = None) -> Saturation:
        """Throughput of a burst of ``count`` messages (optionally of another size)."""
        phase = self._phase(count)
        async with Sender(self._sender_bootstrap, workload or self.workload, self.route) as sender:
            cpu_before = self.cpu_seconds()
            started = time.monotonic()
            await sender.burst(phase.first, count)
            written = time.monotonic()
            await self._await(phase)
        cpu = [after - before for after, before in zip(self.cpu_seconds(), cpu_before,
                                                       strict=True)]
        last = phase.last_at if phase.last_at is not None else written
        after = phase.arrived_after(written)
        drained = self.route == "relay" and after >= MIN_SHARE_AFTER_BURST * count
        if drained and last > written:
            rate = after / (last - written)
        else:
            rate = phase.received / max(last - started, 1e-9)
        return Saturation(rate, cpu, phase.received, phase.expected - phase.received)

    async def fixed_load(self, rate: float, seconds: float) -> tuple[float, dict[str, float]]:
        """Offered rate achieved and latency percentiles (ms) at ``rate`` messages/s."""
        first = self._next_seq
        async with Sender(self._sender_bootstrap, self.workload, self.route) as sender:
            # The phase is registered before sending with room for every message
            # that could be sent, and trimmed to what was actually sent.
            phase = self._phase(int(rate * seconds) + 1)
            sent = await sender.paced(first, rate, seconds)
        phase.end = first + sent
        self._next_seq = phase.end
        await self._await(phase)
        return sent / seconds, phase.latency_summary()
