"""Liveness of the relay under faults: nothing it waits on can wait for ever.

Each test puts the relay where a wait could stall (held messages, a broker
that goes away, a stop) on the real embedded broker, and checks that every
message still arrives, or that the relay stops, within a generous bound.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bus import headers as h
from bus.embedded import free_port
from bus.metrics import Metrics
from bus.mqtt.service import MqttService
from bus.policy import PolicyHolder, load_policy
from bus.relay import Relay
from tests.mqtt.conftest import (  # noqa: F401 (fixtures)
    ConnectPeer,
    MosquittoBroker,
    mosquitto,
    mqtt_peer,
    mqtt_section,
    start_mosquitto,
)
from tests.relay.conftest import rules_text, settings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

SHAPED_MQTT = """
agents: {alice: {transport: mqtt}, bob: {transport: mqtt}, kim: {}}
edges:
  - {name: alice-to-bob, from: alice, to: bob}
filters:
  - filter: rate
    rate: 4
    burst: 1
    per: edge
    max_delay: 60
"""


async def test_mqtt_messages_held_while_kafka_is_away_are_still_delivered(
        mosquitto: MosquittoBroker, mqtt_peer: ConnectPeer, tmp_path: Path,  # noqa: F811
        prefix: str) -> None:
    # One engine serves both transports. While the relay retries an absent Kafka
    # broker, MQTT agents go on talking; what the rate filter holds of theirs
    # belongs to the bridge, and must come out however often the relay reconnects.
    path = tmp_path / "rules.yaml"
    path.write_text(rules_text(prefix, SHAPED_MQTT) + mqtt_section(mosquitto, "5"))
    holder = PolicyHolder(load_policy(path))
    mqtt = MqttService(holder.current.rules.mqtt)
    relay = Relay(holder, bootstrap=f"127.0.0.1:{free_port()}", metrics=Metrics(),
                  settings=settings(prefix, backoff_initial=0.1, backoff_max=0.2),
                  publishers=mqtt.publishers)
    await relay.start()
    try:
        bridge = await mqtt.start(relay.engine, bootstrap=None, kafka=holder.current.rules.kafka,
                                  also_release=relay.released)
        await asyncio.wait_for(bridge.ready.wait(), 30)
        alice = await mqtt_peer("alice")
        bob = await mqtt_peer("bob")
        count = 8
        for n in range(count):
            await alice.publish("agents/alice/out", f"m{n}".encode(),
                                {h.TO: "bob", h.ID: f"m{n}"})
        received = await bob.take(count, timeout=30)
        assert sorted(r.payload for r in received) == sorted(f"m{n}".encode()
                                                              for n in range(count))
        assert not relay.ready  # Kafka was away all along
    finally:
        await mqtt.stop(2)
        await relay.stop(2)
