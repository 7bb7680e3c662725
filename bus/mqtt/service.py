"""The MQTT half of ``membrane run``: the bridge, its Kafka writer, and the glue to the relay.

``MqttService`` is built before the relay, because the relay needs its
``publisher`` to deliver Kafka agents' messages to MQTT agents; it is
started after the relay, on the relay's engine, so both transports share one
policy, one filter state and one set of sensors:

    mqtt = MqttService(rules.mqtt) if uses_mqtt(rules) else None
    relay = Relay(..., publishers=mqtt.publishers if mqtt else None)
    await relay.start()
    if mqtt:
        await mqtt.start(relay.engine, bootstrap=bootstrap, kafka=rules.kafka,
                         also_release=relay_release_callback)
    ...
    await mqtt.stop(grace)

The engine has one release callback; ``also_release`` is the one already
registered (the relay's), and the service installs a callback that hands
released outcomes to both — each side keeps only the outcomes of its own
inputs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiokafka import AIOKafkaProducer

from bus.engine.engine import Engine
from bus.engine.outcome import Outcome
from bus.mqtt.bridge import MqttBridge
from bus.mqtt.codec import MqttCodec
from bus.mqtt.kafka_out import KafkaWriter
from bus.mqtt.sink import MqttSink
from bus.relay.kafka_options import client_options
from bus.rules.schema import RulesFile
from bus.rules.transports import KafkaSettings, MqttSettings

log = logging.getLogger(__name__)

ReleaseCallback = Callable[[list[Outcome]], None]


def uses_mqtt(rules: RulesFile) -> bool:
    """Whether any agent, group or channel of the rules lives on MQTT."""
    return (
        any(spec.transport == "mqtt" for spec in rules.agents.values())
        or any(spec.transport == "mqtt" for spec in rules.groups.values())
        or any(spec.effective_transport == "mqtt" for spec in rules.channels.values())
    )


class MqttService:
    """The bridge plus a Kafka producer for its Kafka-bound outcomes."""

    def __init__(self, settings: MqttSettings) -> None:
        self.settings = settings
        self.publisher = MqttSink(MqttCodec(settings.protocol), settings.qos)
        self.bridge: MqttBridge | None = None
        self._producer: AIOKafkaProducer | None = None

    @property
    def publishers(self) -> dict[str, MqttSink]:
        """What the relay needs to deliver to MQTT agents."""
        return {"mqtt": self.publisher}

    async def start(
        self,
        engine: Engine,
        *,
        bootstrap: str | None,
        kafka: KafkaSettings,
        also_release: ReleaseCallback | None = None,
    ) -> MqttBridge:
        """Start the bridge on ``engine``; without ``bootstrap`` the deployment is
        MQTT-only and quarantine goes to the MQTT quarantine topic."""
        sinks: dict[str, KafkaWriter] = {}
        if bootstrap is not None:
            self._producer = AIOKafkaProducer(
                **client_options(kafka, bootstrap), acks="all", client_id=kafka.client_id
            )
            await self._producer.start()
            sinks["kafka"] = KafkaWriter(self._producer)
        bridge = MqttBridge(engine, self.settings, sinks=sinks, publisher=self.publisher,
                            own_releases=also_release is None)
        if also_release is not None:
            engine.on_release(_both(also_release, bridge.on_release))
        await bridge.start()
        self.bridge = bridge
        log.info("MQTT bridge started for %s:%d (%s)", self.settings.host, self.settings.port,
                 "mixed with Kafka" if sinks else "MQTT only")
        return bridge

    async def stop(self, grace: float = 10.0) -> None:
        bridge, self.bridge = self.bridge, None
        if bridge is not None:
            await bridge.stop(grace)
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()


def _both(first: ReleaseCallback, second: ReleaseCallback) -> ReleaseCallback:
    def release(outcomes: list[Outcome]) -> None:
        first(outcomes)
        second(outcomes)

    return release
