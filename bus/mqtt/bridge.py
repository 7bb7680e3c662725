"""The MQTT bridge: mediates MQTT agents with the same engine as the Kafka relay.

Per connection, the bridge subscribes to every outbox (QoS 1, persistent
session) and, for each message in arrival order:

1. takes the sender from the topic (never from the message), decodes the
   user properties or the JSON envelope, and builds an ``Envelope``; input
   that cannot be decoded is quarantined whole with the reason;
2. asks the engine (``Engine.handle``) for the outcomes;
3. starts writing them at once — MQTT publishes, or the sink of another
   transport — so that per-pair order is wire order;
4. acknowledges the message when all its outcomes, including the ones the
   engine held back and released later, are durable (``InFlight``).

A lost connection is retried with exponential backoff and full jitter; what
was read and not acknowledged is forgotten, and the broker resends it on the
new connection (at-least-once). ``stop`` stops reading, lets in-flight
deliveries finish within the grace period, then disconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

import aiomqtt

from bus import headers as h
from bus.backoff import Backoff
from bus.engine.engine import Engine
from bus.engine.outcome import BROKER_REFUSED, QUARANTINE, Outcome, undeliverable
from bus.envelope import decode_envelope
from bus.errors import ProtocolError, UpstreamError
from bus.lifecycle import AsyncLifecycle
from bus.mqtt.codec import DEFAULT_MAX_PAYLOAD, MqttCodec
from bus.mqtt.connection import connection_ended, make_client, paho_client
from bus.mqtt.inflight import Inbound, InFlight
from bus.mqtt.router import OutcomeSink, Router
from bus.mqtt.sink import MqttSink
from bus.mqtt.topics import TopicTemplate
from bus.rules.transports import MqttSettings

log = logging.getLogger(__name__)

TRANSPORT = "mqtt"
NOT_AN_OUTBOX = "not-an-outbox"
WRONG_TRANSPORT = "wrong-transport"
INTERNAL_ERROR = "internal-error"


class MqttBridge(AsyncLifecycle):
    """``MqttBridge(engine, settings, sinks={"kafka": kafka_sink})``; ``start``/``stop``.

    ``sinks`` writes outcomes for other transports; without a Kafka sink,
    quarantine copies go to ``settings.quarantine_topic`` on MQTT.
    ``publisher`` publishes on the bridge's connection: the Kafka relay uses
    it for outcomes addressed to MQTT agents (pass one in when the relay has
    to be built first). With
    ``own_releases`` (the default) the bridge registers itself for the
    engine's released outcomes; a process that shares one engine between
    transports instead passes the outcomes for which ``owns`` is true to
    ``on_release``.
    """

    def __init__(
        self,
        engine: Engine,
        settings: MqttSettings,
        *,
        sinks: Mapping[str, OutcomeSink] | None = None,
        client_id: str | None = None,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        backoff: Backoff | None = None,
        own_releases: bool = True,
        publisher: MqttSink | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.client_id = client_id or settings.client_id
        self._outbox = TopicTemplate(settings.outbox)
        self._codec = MqttCodec(settings.protocol, max_payload)
        self._client: aiomqtt.Client | None = None
        self.publisher = publisher or MqttSink(self._codec, settings.qos)
        self._router = Router(self.publisher, settings.quarantine_topic, sinks or {},
                              on_duplicate=engine.metrics.dedupe_dropped.inc)
        self._inflight = InFlight(settings.receive_maximum)
        self._backoff = backoff or Backoff()
        self._retry = Backoff(base=0.05, cap=2.0)
        self._deliveries: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._grace = 10.0
        self.ready = asyncio.Event()
        self.connections = 0
        metrics = engine.metrics
        self._up = metrics.broker_up.labels(TRANSPORT)
        self._in_flight = metrics.in_flight.labels(TRANSPORT)
        if own_releases:
            engine.on_release(self.on_release)

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="membrane-mqtt-bridge")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop reading, give in-flight messages ``grace`` seconds to finish, disconnect.

        Messages still unfinished stay unacknowledged: the broker keeps them
        in membrane's session and resends them when the bridge comes back.
        """
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        self._grace = grace
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for delivery in list(self._deliveries):
            delivery.cancel()
        self._deliveries.clear()

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    @property
    def acknowledged(self) -> int:
        return self._inflight.acknowledged

    # -- connection ----------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping.is_set():
            client = make_client(self.settings, client_id=self.client_id)
            client.pending_calls_threshold = 4 * self.settings.receive_maximum + 64
            try:
                await self._session(client)
            except aiomqtt.MqttError as exc:
                log.warning("MQTT connection to %s:%d lost or refused: %s",
                            self.settings.host, self.settings.port, exc)
            finally:
                self._disconnected()
            if self._stopping.is_set():
                return
            delay = self._backoff.next_delay()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _session(self, client: aiomqtt.Client) -> None:
        async with client:
            self._client = client
            self.publisher.attach(client)
            self._inflight.connected(paho_client(client).ack)
            self.connections += 1
            self._up.set(1)
            await client.subscribe(self._outbox.subscription, qos=self.settings.qos)
            self._backoff.reset()
            self.ready.set()
            log.info("MQTT bridge subscribed to %s on %s:%d", self._outbox.subscription,
                     self.settings.host, self.settings.port)
            reader = asyncio.create_task(self._read(client))
            stopping = asyncio.create_task(self._stopping.wait())
            # The reader alone would miss a lost connection while it waits
            # for room, and room only comes from acknowledgements.
            ended = connection_ended(client)
            watched: set[asyncio.Future[Any]] = {reader, stopping, ended}
            try:
                await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopping.cancel()
                if not reader.done():
                    reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await reader
            # Read it whichever way the session ends, so asyncio never reports
            # an exception nobody retrieved.
            cause = ended.exception() if ended.done() and not ended.cancelled() else None
            if self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._inflight.wait_idle(), self._grace)
            elif not reader.cancelled():
                reader.result()
            else:
                raise aiomqtt.MqttError("connection ended") from cause

    def _disconnected(self) -> None:
        self._client = None
        self.publisher.detach()
        self.ready.clear()
        self._inflight.disconnected()
        self._up.set(0)
        self._in_flight.set(0)

    # -- reading and deciding ------------------------------------------------

    async def _read(self, client: aiomqtt.Client) -> None:
        messages = aiter(client.messages)
        while True:
            await self._inflight.wait_for_room()
            message = await anext(messages)
            await self._mediate(message)

    async def _mediate(self, message: aiomqtt.Message) -> None:
        inbound = self._inflight.begin(message.mid, message.qos)
        self._in_flight.set(len(self._inflight))
        outcomes = await self._decide(message, inbound)
        if outcomes:
            self._deliver(inbound, outcomes)
        self._inflight.decided(inbound, self.engine.pending_for(inbound))

    async def _decide(self, message: aiomqtt.Message, inbound: Inbound) -> list[Outcome]:
        topic = message.topic.value
        payload = _as_bytes(message.payload)
        sender = self._outbox.agent_of(topic)
        headers: list[tuple[str, bytes]] = []
        try:
            if sender is None:
                raise ProtocolError(NOT_AN_OUTBOX, f"topic {topic!r} does not match "
                                    f"the outbox template {self.settings.outbox!r}")
            headers, body = self._codec.decode(payload, message.properties)
            if self.engine.policy.transport_of(sender) != TRANSPORT:
                raise ProtocolError(WRONG_TRANSPORT, f"{sender!r} is not an MQTT agent: "
                                    "its messages must come from its Kafka outbox")
            env = decode_envelope(sender=sender, headers=headers, key=sender.encode(),
                                  payload=body, timestamp=time.time())
        except ProtocolError as error:
            outcome = self.engine.quarantine_invalid(
                headers, payload, None, sender or "", error, inbound)
            outcome.headers.append((h.ORIGIN_TOPIC, topic.encode()))
            return [outcome]
        try:
            return await self.engine.handle(env, inbound)
        except Exception as exc:  # a bug must not stop the bridge nor lose the message
            log.exception("deciding a message from %r failed", sender)
            failure = ProtocolError(INTERNAL_ERROR, f"deciding failed: {exc!r}")
            return [
                self.engine.quarantine_invalid(headers, payload, None, sender, failure, inbound)
            ]

    # -- delivering ----------------------------------------------------------

    def owns(self, outcome: Outcome) -> bool:
        """Whether this bridge read the input ``outcome`` belongs to."""
        return isinstance(outcome.origin, Inbound)

    def on_release(self, outcomes: list[Outcome]) -> None:
        """Deliver outcomes the engine held and has now released."""
        by_input: dict[Inbound, list[Outcome]] = {}
        for outcome in outcomes:
            if isinstance(outcome.origin, Inbound):
                by_input.setdefault(outcome.origin, []).append(outcome)
        for inbound, released in by_input.items():
            self._deliver(inbound, released, released=len(released))

    def _deliver(self, inbound: Inbound, outcomes: Sequence[Outcome], released: int = 0) -> None:
        self._inflight.delivering(inbound, released)
        writes = self._router.submit_all(outcomes)
        task = asyncio.create_task(self._confirm(inbound, outcomes, writes))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _confirm(self, inbound: Inbound, outcomes: Sequence[Outcome],
                       writes: list[Awaitable[None]]) -> None:
        """Wait until every write is durable, retrying failed ones while the
        input can still be acknowledged; then let the input settle. An outcome
        the broker refuses for good is quarantined instead, so that one
        refused topic cannot hold the input, and in the end every slot."""
        results = await asyncio.gather(*writes, return_exceptions=True)
        failed = _failures(outcomes, results)
        while failed:
            if inbound.generation != self._inflight.generation or self._stopping.is_set():
                # The input will be resent by the broker; it is not acknowledged.
                log.warning("gave up %d write(s) of an input the broker will resend: %s",
                            len(failed), failed[0][1])
                return
            await asyncio.sleep(self._retry.next_delay())
            retried = [self._instead_of(outcome, error) for outcome, error in failed]
            results = await asyncio.gather(*self._router.submit_all(retried),
                                           return_exceptions=True)
            failed = _failures(retried, results)
        self._inflight.delivered(inbound)
        self._in_flight.set(len(self._inflight))

    def _instead_of(self, outcome: Outcome, error: Exception) -> Outcome:
        """What to write after ``outcome`` failed with ``error``: the same again,
        or its quarantine copy when the broker refused it for good."""
        if not isinstance(error, UpstreamError) or error.retriable:
            return outcome
        if outcome.action == QUARANTINE:
            log.error("cannot quarantine a message from %r (the input stays "
                      "unacknowledged until this is mended): %s", outcome.env.sender, error)
            return outcome
        self.engine.metrics.quarantined.labels(BROKER_REFUSED).inc()
        if outcome.transport == TRANSPORT:
            destination = self.engine.policy.quarantine_topic
            transport = self._router.quarantine_transport
        else:  # the other transport refused it: its quarantine would refuse the copy too
            destination, transport = self.settings.quarantine_topic, TRANSPORT
        return undeliverable(outcome, reason=BROKER_REFUSED, detail=str(error),
                             destination=destination, transport=transport)


def _failures(outcomes: Sequence[Outcome], results: Sequence[object]
              ) -> list[tuple[Outcome, Exception]]:
    failures: list[tuple[Outcome, Exception]] = []
    for outcome, result in zip(outcomes, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result
            failures.append((outcome, result))
    return failures


def _as_bytes(payload: object) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, bytearray):
        return bytes(payload)
    if payload is None:
        return b""
    return str(payload).encode("utf-8")
