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
from bus.embedded import EmbeddedBroker, free_port
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
from tests.relay.conftest import (
    produce,
    producer_for,
    read_topics,
    rules_text,
    running_relay,
    settings,
    write_rules,
)
from tests.relay.test_reload_and_outage import until

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


HELD_PER_SENDER = """
agents: {alice: {}, bob: {}, carol: {}, kim: {}}
edges:
  - {name: to-bob, from: [alice, kim], to: bob}
  - {name: alice-to-carol, from: alice, to: carol}
filters:
  - filter: rate
    rate: 0.125
    burst: 1
    per: sender
    max_delay: 60
"""


async def test_a_session_restarted_during_an_outage_leaves_the_relay_alive(
        tmp_path: Path, prefix: str, caplog: pytest.LogCaptureFixture) -> None:
    # alice's second message is held by the rate filter for 8 s and released
    # after the broker is gone (stopping it takes 5 s while clients are
    # connected). Its first write to carol's inbox fails for want of metadata,
    # so the relay closes the session while the consumer retries its fetches.
    holder = PolicyHolder(load_policy(write_rules(tmp_path / "rules.yaml", prefix,
                                                  HELD_PER_SENDER)))
    broker = EmbeddedBroker(port=free_port())
    await broker.start()
    try:
        async with running_relay(holder, broker, prefix, backoff_initial=0.1, backoff_max=0.5,
                                 request_timeout=3.0) as relay:
            async with producer_for(broker) as producer:
                await produce(producer, f"{prefix}.alice.outbox",
                              [([(h.TO, b"bob")], b"first"), ([(h.TO, b"carol")], b"held")])
            await until(lambda: relay.engine.held == 1 and relay.in_flight == 1, timeout=60)
            await broker.stop()
            await until(lambda: relay.engine.held == 0 and relay.in_flight == 0, timeout=60)
            assert any("reconnecting" in r.getMessage() for r in caplog.records)
            await broker.start()  # a new, empty cluster
            async with producer_for(broker) as producer:
                await produce(producer, f"{prefix}.kim.outbox", [([(h.TO, b"bob")], b"after")])
            records = await read_topics(broker, [f"{prefix}.bob.inbox"],
                                        lambda r: len(r) >= 1, timeout=60)
            assert [r.value for r in records] == [b"after"]
            assert relay.healthy and relay.failed is None
    finally:
        await broker.stop()


async def test_stop_while_the_broker_is_away_returns_and_leaves_no_task(
        tmp_path: Path, prefix: str) -> None:
    holder = PolicyHolder(load_policy(write_rules(tmp_path / "rules.yaml", prefix,
                                                  HELD_PER_SENDER)))
    broker = EmbeddedBroker(port=free_port())
    await broker.start()
    try:
        async with running_relay(holder, broker, prefix, request_timeout=2.0) as relay:
            await broker.stop()  # the consumer's fetches now fail and are retried
            drained = await relay.stop(3)
            assert drained  # nothing was read, so nothing is left unfinished
            assert not relay.healthy
            current = asyncio.current_task()
            assert [t for t in asyncio.all_tasks() if t is not current] == []
    finally:
        await broker.stop()
