"""Where each outcome goes: MQTT inboxes, another transport's sink, or quarantine.

- A forward to an MQTT agent or channel is published on the bridge's MQTT
  connection to ``outcome.destination``.
- A forward to an agent of another transport goes to that transport's sink
  (the relay's Kafka producer in a mixed fleet).
- A quarantine copy goes to the Kafka quarantine topic when Kafka is
  configured, otherwise to the MQTT quarantine topic of the rules' ``mqtt:``
  section. A copy for the MQTT transport addressed to the MQTT quarantine
  topic (Kafka refused the original) goes there in any case.
- A forward to a transport nobody serves is quarantined as ``no-transport``:
  never dropped.

``submit`` starts the write at once, so call order is wire order (per-pair
order holds), and returns an awaitable that completes once the write is
durable.

Writes the broker has acknowledged are remembered in a dedupe window, keyed
like the relay's (destination, sender, message id, recipient). When a
dropped connection makes the broker resend an input whose outcomes were
already written in part, those parts are not written twice; only outcomes
whose acknowledgement the cut itself lost can reach a recipient again.
Inputs without a ``membrane-id`` get a fresh id on each delivery, so their
resends cannot be recognised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

from bus.engine.dedupe import DedupeWindow, output_key
from bus.engine.outcome import QUARANTINE, VERDICT_UNROUTABLE, Outcome, quarantine_headers
from bus.mqtt.sink import MqttSink

NO_TRANSPORT = "no-transport"
WRITTEN_WINDOW = 50_000
"""Outcomes remembered as written: resends concern only inputs still in
flight, a few receive-maximums' worth of outcomes at most."""


class OutcomeSink(Protocol):
    """A transport that can write outcomes (the relay's Kafka sink, for one)."""

    def submit(self, outcome: Outcome) -> Awaitable[None]:
        """Queue the write now (call order is write order); await it to know it is durable."""
        ...


class Router:
    """Sends outcomes to MQTT or to the sink of their transport."""

    __slots__ = ("_mqtt", "_on_duplicate", "_quarantine_topic", "_sinks", "_written")

    def __init__(
        self,
        mqtt: MqttSink,
        quarantine_topic: str,
        sinks: Mapping[str, OutcomeSink],
        *,
        on_duplicate: Callable[[], None] | None = None,
        window: DedupeWindow | None = None,
    ) -> None:
        self._mqtt = mqtt
        self._quarantine_topic = quarantine_topic
        self._sinks = dict(sinks)
        self._on_duplicate = on_duplicate
        self._written = window if window is not None else DedupeWindow(WRITTEN_WINDOW)

    @property
    def quarantine_transport(self) -> str:
        return "kafka" if "kafka" in self._sinks else "mqtt"

    def submit(self, outcome: Outcome) -> Awaitable[None]:
        """Start writing ``outcome``; an outcome already written completes at once."""
        env = outcome.env
        recipient = (outcome.recipient or "") if outcome.action == QUARANTINE else ""
        key = output_key(outcome.destination, env.sender, env.msg_id, recipient)
        if key in self._written:
            if self._on_duplicate is not None:
                self._on_duplicate()
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        write = asyncio.ensure_future(self._route(outcome))
        write.add_done_callback(lambda future: self._remember(key, future))
        return write

    def _remember(self, key: int, write: asyncio.Future[None]) -> None:
        if not write.cancelled() and write.exception() is None:
            self._written.add(key)

    def _route(self, outcome: Outcome) -> Awaitable[None]:
        if outcome.action == QUARANTINE:
            return self._quarantine(outcome.headers, outcome)
        if outcome.transport == "mqtt":
            return self._mqtt.submit(outcome.destination, outcome.headers, outcome.payload)
        sink = self._sinks.get(outcome.transport)
        if sink is not None:
            return sink.submit(outcome)
        headers = quarantine_headers(
            outcome.headers,
            verdict=VERDICT_UNROUTABLE,
            reason=NO_TRANSPORT,
            detail=f"{outcome.recipient!r} is on {outcome.transport}, which this process "
            "does not serve",
            recipient=outcome.recipient,
        )
        return self._quarantine(headers, outcome)

    def submit_all(self, outcomes: Sequence[Outcome]) -> list[Awaitable[None]]:
        return [self.submit(outcome) for outcome in outcomes]

    def _quarantine(self, headers: list[tuple[str, bytes]], outcome: Outcome) -> Awaitable[None]:
        kafka = self._sinks.get("kafka")
        on_mqtt = outcome.transport == "mqtt" and outcome.destination == self._quarantine_topic
        if kafka is not None and headers is outcome.headers and not on_mqtt:
            return kafka.submit(outcome)
        return self._mqtt.submit(self._quarantine_topic, headers, outcome.payload)
