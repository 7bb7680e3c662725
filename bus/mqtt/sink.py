"""Publishing membrane's outcomes to MQTT: inboxes, shared channels and quarantine.

A publish is durable when the broker has acknowledged it (PUBACK for QoS 1),
and only then does its future complete. An MQTT 5 broker may refuse a
publish in its acknowledgement; a refusal that trying again cannot change
(not authorised, invalid topic name or payload format) fails the future
with a ``UpstreamError`` that is not retriable, any other with one that is.
Messages are published with retain off: an inbox is a queue, not a
last-known value, and a retained quarantine copy would be replayed to every
new subscriber.

The sink calls paho's ``publish`` directly and completes its own futures
from the ``on_publish`` callback (chained to aiomqtt's): aiomqtt's awaitable
publish scans every pending call on each publish, which costs O(in-flight)
per message at the in-flight depths the bridge runs with.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aiomqtt
import paho.mqtt.client as paho

from bus.errors import UpstreamError
from bus.mqtt.codec import MqttCodec
from bus.mqtt.connection import paho_client

PERMANENT_REFUSALS = frozenset({
    0x87,  # not authorised
    0x90,  # topic name invalid
    0x99,  # payload format invalid
})


class MqttSink:
    """Publishes (topic, headers, payload) on the connection it is attached to.

    While detached (reconnecting) a publish fails at once with a retriable
    ``UpstreamError``; the caller tries again later.
    """

    def __init__(self, codec: MqttCodec, qos: int = 1) -> None:
        self.codec = codec
        self.qos = qos
        self._paho: paho.Client | None = None
        self._waiting: dict[int, tuple[asyncio.Future[None], str]] = {}

    def attach(self, client: aiomqtt.Client) -> None:
        """Publish on ``client`` (connected) from now on."""
        inner = paho_client(client)
        chained = inner.on_publish

        def on_publish(*args: Any) -> None:
            _, _, mid, reason, _ = args
            future, topic = self._waiting.pop(mid, (None, ""))
            if future is not None and not future.done():
                if getattr(reason, "is_failure", False):
                    future.set_exception(UpstreamError(
                        f"the MQTT broker refused the publish to {topic!r}: {reason} "
                        f"(reason code 0x{reason.value:02x})",
                        retriable=reason.value not in PERMANENT_REFUSALS))
                else:
                    future.set_result(None)
            if chained is not None:
                chained(*args)

        inner.on_publish = on_publish
        self._paho = inner

    def detach(self) -> None:
        """The connection is gone: publishes not yet acknowledged have failed."""
        self._paho = None
        waiting, self._waiting = self._waiting, {}
        for future, _ in waiting.values():
            if not future.done():
                future.set_exception(
                    UpstreamError("MQTT connection lost before the broker acknowledged",
                                  retriable=True)
                )

    def submit(
        self, topic: str, headers: Sequence[tuple[str, bytes]], payload: bytes | None
    ) -> asyncio.Future[None]:
        """Publish now (publishes leave in call order); the future completes
        when the broker has acknowledged the message."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        inner = self._paho
        if inner is None:
            future.set_exception(UpstreamError("not connected to the MQTT broker",
                                               retriable=True))
            return future
        body, properties = self.codec.encode(headers, payload)
        info = inner.publish(topic, body, self.qos, False, properties)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            future.set_exception(UpstreamError(
                f"MQTT publish to {topic!r} failed: {paho.error_string(info.rc)}",
                retriable=True))
        elif self.qos == 0 or info.is_published():
            future.set_result(None)
        else:
            self._waiting[info.mid] = (future, topic)
        return future

    async def publish(
        self, topic: str, headers: Sequence[tuple[str, bytes]], payload: bytes | None
    ) -> None:
        await self.submit(topic, headers, payload)
