"""Publishing membrane's outcomes to MQTT: inboxes, shared channels and quarantine.

A publish is durable when the broker has acknowledged it (PUBACK for QoS 1),
and only then does the bridge count the delivery as done. Messages are
published with retain off: an inbox is a queue, not a last-known value, and
a retained quarantine copy would be replayed to every new subscriber.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import aiomqtt

from bus.errors import UpstreamError
from bus.mqtt.codec import MqttCodec

ClientFn = Callable[[], aiomqtt.Client | None]


class MqttSink:
    """Publishes (topic, headers, payload) on the bridge's current connection.

    ``client`` returns the connected client or None while reconnecting; a
    publish then fails with a retriable ``UpstreamError`` and the caller
    tries again later.
    """

    __slots__ = ("_client", "codec", "qos")

    def __init__(self, codec: MqttCodec, client: ClientFn, qos: int = 1) -> None:
        self.codec = codec
        self.qos = qos
        self._client = client

    def submit(
        self, topic: str, headers: Sequence[tuple[str, bytes]], payload: bytes | None
    ) -> asyncio.Future[None]:
        """Start publishing now (publishes leave in call order); the future
        completes when the broker has acknowledged the message."""
        return asyncio.ensure_future(self.publish(topic, headers, payload))

    async def publish(
        self, topic: str, headers: Sequence[tuple[str, bytes]], payload: bytes | None
    ) -> None:
        client = self._client()
        if client is None:
            raise UpstreamError("not connected to the MQTT broker", retriable=True)
        body, properties = self.codec.encode(headers, payload)
        try:
            await client.publish(topic, body, qos=self.qos, retain=False, properties=properties)
        except aiomqtt.MqttError as exc:
            raise UpstreamError(f"MQTT publish to {topic!r} failed: {exc}", retriable=True) from exc
