"""Outcomes for agents on another transport (e.g. a Kafka agent writing to an MQTT one).

The relay writes Kafka itself; for any other transport it needs a publisher
(``bus.mqtt.sink.MqttSink`` fits). Each transport gets one ordered lane: an
outcome is published, retried with backoff while the broker is away, and
only then is its input's ticket completed, so the input is not committed
before the output is durable. Without a publisher the outcome is quarantined
with reason ``no-route`` instead: nothing is silently dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from bus.backoff import Backoff
from bus.engine.commit import Ticket
from bus.engine.outcome import QUARANTINE, VERDICT_UNROUTABLE, Outcome, quarantine_headers
from bus.engine.tasks import BackgroundTask
from bus.errors import UpstreamError

log = logging.getLogger(__name__)

NO_ROUTE = "no-route"


class Publisher(Protocol):
    async def publish(
        self, topic: str, headers: Sequence[tuple[str, bytes]], payload: bytes | None
    ) -> None: ...


def unroutable(outcome: Outcome, quarantine_topic: str, transport: str) -> Outcome:
    """The quarantine copy of an outcome no publisher in this process can deliver."""
    headers = quarantine_headers(
        outcome.headers, verdict=VERDICT_UNROUTABLE, reason=NO_ROUTE,
        detail=f"no {outcome.transport} publisher in this relay", recipient=outcome.recipient,
    )
    return Outcome(
        action=QUARANTINE, env=outcome.env, recipient=outcome.recipient, transport=transport,
        destination=quarantine_topic, headers=headers, payload=outcome.payload, reason=NO_ROUTE,
        policy_version=outcome.policy_version, origin=outcome.origin,
    )


class ForeignLane:
    """Publishes one transport's outcomes in order, retrying until each is durable."""

    def __init__(self, name: str, publisher: Publisher) -> None:
        self.name = name
        self._publisher = publisher
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
            if ticket.abandoned:
                continue
            while True:
                try:
                    await self._publisher.publish(outcome.destination, outcome.headers,
                                                  outcome.payload)
                    break
                except UpstreamError as exc:
                    delay = backoff.next_delay()
                    log.warning("%s publish to %s failed (%s); retrying in %.1fs",
                                self.name, outcome.destination, exc, delay)
                    await asyncio.sleep(delay)
            backoff.reset()
            ticket.done()
