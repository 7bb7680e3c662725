"""Knowing when the relay has finished a round: a barrier over its own counters.

Rounds are logical, so each round must end only when membrane has decided
everything sent in it. The probe watches the in-process relay's metrics:
the round is decided when the relay has read as many records as the agents
sent and no held message is due at the current (logical) time. The number
of records the relay has written so far (forwarded plus quarantined copies)
is then final, and the agents' consumer reads exactly that many back.

Filters decide without awaiting, so the relay cannot be caught half-way
through a message: one ``handle`` runs to completion between two looks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bus.clock import Clock
from bus.engine.engine import Engine
from bus.errors import UpstreamError
from bus.metrics import Metrics

POLL_SECONDS = 0.001


class RelayProbe:
    """Reads an engine's counters; ``transport`` is the metrics label it counts under."""

    def __init__(self, engine: Engine, clock: Clock, transport: str = "kafka") -> None:
        self._engine = engine
        self._clock = clock
        self._metrics: Metrics = engine.metrics
        self._transport = transport

    def _count(self, name: str, **labels: str) -> int:
        value = self._metrics.registry.get_sample_value(name, {"transport": self._transport,
                                                               **labels})
        return int(value) if value is not None else 0

    def received(self) -> int:
        return self._count("membrane_received_total")

    def outputs(self) -> int:
        """Records written so far: forwarded copies plus quarantined copies."""
        return self._count("membrane_messages_total", outcome="forwarded") + self._count(
            "membrane_messages_total", outcome="quarantined"
        )

    @property
    def held(self) -> int:
        return self._engine.held

    def next_release(self) -> float | None:
        return self._engine.next_release()

    def due(self) -> bool:
        """A held message is due now and not yet released."""
        release_at = self._engine.next_release()
        return release_at is not None and release_at <= self._clock.now()

    async def read(self, sent: int, timeout: float) -> None:
        """Wait until the relay has read (and so decided) ``sent`` records."""
        await self._until(lambda: self.received() >= sent, sent, timeout)

    async def decided(self, sent: int, timeout: float) -> int:
        """Wait until ``sent`` records were read and nothing due is held; return ``outputs()``."""

        def done() -> bool:
            if self.received() < sent:
                return False
            if self.due():
                self._engine.wake()
                return False
            return True

        await self._until(done, sent, timeout)
        return self.outputs()

    async def _until(self, condition: Callable[[], bool], sent: int, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            if loop.time() > deadline:
                raise UpstreamError(
                    f"the relay decided {self.received()} of {sent} messages within {timeout}s",
                    retriable=False,
                )
            await asyncio.sleep(POLL_SECONDS)
