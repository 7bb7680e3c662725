"""Outcomes for agents on another transport (e.g. a Kafka agent writing to an MQTT one).

The relay writes Kafka itself; for any other transport it needs a publisher
(``bus.mqtt.sink.MqttSink`` fits). Each transport gets one ordered lane: an
outcome is published, retried with backoff while the broker is away, and
only then is its input's ticket completed, so the input is not committed
before the output is durable. Without a publisher the outcome is quarantined
with reason ``no-route`` instead: nothing is silently dropped. A publish the
broker refuses for good (``UpstreamError`` not retriable: an MQTT ACL that
forbids the inbox, say) is diverted to quarantine as ``broker-refused``,
rather than retried while every input behind it waits. An outcome whose
input moved to another process (its ticket abandoned) is not published: that
process reads the input again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from bus.backoff import Backoff
from bus.engine.commit import Ticket
from bus.engine.outcome import Outcome, undeliverable
from bus.engine.tasks import BackgroundTask
from bus.errors import UpstreamError

log = logging.getLogger(__name__)

NO_ROUTE = "no-route"

Divert = Callable[[Outcome, Ticket, UpstreamError], None]
"""Writes a quarantine copy in place of an outcome the broker refused, for the same ticket."""


class Publisher(Protocol):
    async def publish(
        self, topic: str, headers: Sequence[tuple[str, bytes]], payload: bytes | None
    ) -> None: ...


def unroutable(outcome: Outcome, quarantine_topic: str, transport: str) -> Outcome:
    """The quarantine copy of an outcome no publisher in this process can deliver."""
    return undeliverable(outcome, reason=NO_ROUTE,
                         detail=f"no {outcome.transport} publisher in this relay",
                         destination=quarantine_topic, transport=transport)


class ForeignLane:
    """Publishes one transport's outcomes in order, retrying until each is durable."""

    def __init__(self, name: str, publisher: Publisher, divert: Divert) -> None:
        self.name = name
        self._publisher = publisher
        self._divert = divert
        self._queue: asyncio.Queue[tuple[Outcome, Ticket]] = asyncio.Queue()
        self._task = BackgroundTask(self._run, f"membrane-{self.name}-lane")

    def submit(self, outcome: Outcome, ticket: Ticket) -> None:
        self._queue.put_nowait((outcome, ticket))

    async def start(self) -> None:
        self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    async def _run(self) -> None:
        backoff = Backoff()
        while True:
            outcome, ticket = await self._queue.get()
            if await self._publish(outcome, ticket, backoff):
                ticket.done()
            backoff.reset()

    async def _publish(self, outcome: Outcome, ticket: Ticket, backoff: Backoff) -> bool:
        """Publish until durable (True); False when the outcome was diverted or
        its input belongs to another process now."""
        while not ticket.abandoned:
            try:
                await self._publisher.publish(outcome.destination, outcome.headers,
                                              outcome.payload)
                return True
            except UpstreamError as exc:
                if not exc.retriable:
                    log.warning("%s refused %s for good; quarantining it: %s",
                                self.name, outcome, exc)
                    self._divert(outcome, ticket, exc)
                    return False
                delay = backoff.next_delay()
                log.warning("%s publish to %s failed (%s); retrying in %.1fs",
                            self.name, outcome.destination, exc, delay)
                await asyncio.sleep(delay)
        return False
