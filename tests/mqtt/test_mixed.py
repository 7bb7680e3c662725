"""A mixed fleet: MQTT agents and Kafka agents in one topology, one engine.

Kafka runs on the embedded broker (tansu), MQTT on a real Mosquitto; the
relay and the bridge share the engine, so the same policy decides both ways.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from bus import headers as h
from bus.embedded import EmbeddedBroker
from bus.engine.engine import Engine
from bus.metrics import Metrics
from bus.mqtt.bridge import MqttBridge
from bus.mqtt.codec import DEFAULT_MAX_PAYLOAD
from bus.mqtt.kafka_out import KafkaWriter
from bus.policy import PolicyHolder, load_policy
from bus.relay.relay import Relay
from bus.relay.settings import RelaySettings
from tests.mqtt.conftest import mqtt_section, wait_until

if TYPE_CHECKING:
    from pathlib import Path

    from tests.mqtt.conftest import ConnectPeer, MosquittoBroker

pytestmark = pytest.mark.e2e

TURNS = 6


def _rules(prefix: str) -> str:
    return f"""\
version: 1
agents:
  alice: {{transport: mqtt}}
  carol: {{transport: mqtt}}
  kim: {{transport: kafka}}
topics:
  outbox: "{prefix}.{{agent}}.outbox"
  inbox: "{prefix}.{{agent}}.inbox"
  quarantine: "{prefix}.quarantine"
edges:
  - {{name: alice-kim, from: alice, to: kim}}
  - {{name: kim-alice, from: kim, to: alice}}
  - {{name: kim-carol, from: kim, to: carol}}
"""


class Fleet:
    def __init__(self, prefix: str, producer: AIOKafkaProducer, bridge: MqttBridge,
                 relay: Relay) -> None:
        self.prefix = prefix
        self.producer = producer
        self.bridge = bridge
        self.relay = relay

    async def consumer(self, topic: str) -> AIOKafkaConsumer:
        return await _consumer(self.producer.client._bootstrap_servers, topic)


async def _consumer(bootstrap: str, topic: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", fetch_max_wait_ms=50,
    )
    await consumer.start()
    return consumer


async def records(consumer: AIOKafkaConsumer, count: int) -> list[ConsumerRecord]:
    records: list[ConsumerRecord] = []

    async def collect() -> None:
        while len(records) < count:
            batch = await consumer.getmany(timeout_ms=500)
            for partition_records in batch.values():
                records.extend(partition_records)

    await asyncio.wait_for(collect(), 60)
    return records


@pytest.fixture
async def fleet(
    kafka_broker: EmbeddedBroker, mosquitto: MosquittoBroker, tmp_path: Path
) -> AsyncIterator[Fleet]:
    prefix = f"mixed-{uuid.uuid4().hex[:8]}"
    rules = tmp_path / "rules.yaml"
    rules.write_text(_rules(prefix) + mqtt_section(mosquitto, "5"))
    holder = PolicyHolder(load_policy(rules))
    engine = Engine(holder, metrics=Metrics(), transport_name="kafka")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
    await producer.start()
    bridge = MqttBridge(engine, holder.current.rules.mqtt,
                        sinks={"kafka": KafkaWriter(producer)}, own_releases=False)
    relay = Relay(holder, bootstrap=kafka_broker.bootstrap, engine=engine,
                  settings=RelaySettings(group_id=f"membrane-{prefix}", dedupe_seed_depth=0),
                  publishers={"mqtt": bridge.publisher})
    await engine.start()
    await relay.start()
    await bridge.start()
    try:
        await relay.wait_ready(60)
        await asyncio.wait_for(bridge.ready.wait(), 30)
        yield Fleet(prefix, producer, bridge, relay)
    finally:
        await bridge.stop(grace=1)
        await relay.stop(grace=2)
        await engine.stop()
        await producer.stop()


async def test_mqtt_and_kafka_agents_converse_through_one_policy(
    fleet: Fleet, mqtt_peer: ConnectPeer
) -> None:
    alice = await mqtt_peer("alice")
    kim_inbox = await fleet.consumer(f"{fleet.prefix}.kim.inbox")
    hops = "0"
    try:
        for turn in range(TURNS):
            # MQTT -> Kafka: alice's publish lands in kim's Kafka inbox ...
            await alice.publish("agents/alice/out", f"a{turn}".encode(),
                                {h.TO: "kim", h.KIND: "question", h.HOPS: hops})
            [record] = await records(kim_inbox, 1)
            headers = {name: value.decode() for name, value in record.headers}
            assert record.value == f"a{turn}".encode()
            assert headers[h.FROM] == "alice"
            assert headers[h.KIND] == "question"
            assert headers[h.HOPS] == str(2 * turn + 1)
            # ... and kim's answer, produced to its Kafka outbox, reaches alice on MQTT.
            # Both carry the hop count on, as real agents do.
            await fleet.producer.send_and_wait(
                f"{fleet.prefix}.kim.outbox", f"k{turn}".encode(), key=b"kim",
                headers=[(h.TO, b"alice"), (h.HOPS, headers[h.HOPS].encode())],
            )
            [answer] = await alice.take(1)
            assert answer.payload == f"k{turn}".encode()
            assert answer.headers[h.FROM] == "kim"
            assert answer.headers[h.HOPS] == str(2 * turn + 2)
            hops = answer.headers[h.HOPS]
    finally:
        await kim_inbox.stop()


async def test_mqtt_input_refused_in_a_mixed_fleet_goes_to_the_kafka_quarantine(
    fleet: Fleet, mqtt_peer: ConnectPeer
) -> None:
    carol = await mqtt_peer("carol")
    quarantine = await fleet.consumer(f"{fleet.prefix}.quarantine")
    try:
        await carol.publish("agents/carol/out", b"to kim", {h.TO: "kim"})
        await carol.publish("agents/carol/out", b"{broken", {h.TO: "kim", h.HOPS: "x"})
        copies = await records(quarantine, 2)
    finally:
        await quarantine.stop()
    reasons = sorted(dict(r.headers)[h.REASON].decode() for r in copies)
    assert reasons == ["bad-hops", "default-deny"]
    assert all(dict(r.headers)[h.FROM] == b"carol" for r in copies)


async def test_a_record_kafka_refuses_is_quarantined_on_mqtt(
    fleet: Fleet, mqtt_peer: ConnectPeer
) -> None:
    # The bridge takes payloads up to 1 MiB; with membrane's headers the Kafka
    # record is larger than the producer's limit, which no retry can mend.
    alice = await mqtt_peer("alice")
    quarantine = await mqtt_peer("q", listen=("membrane/quarantine",))
    too_large = b"x" * DEFAULT_MAX_PAYLOAD
    await alice.publish("agents/alice/out", too_large, {h.TO: "kim"})
    await alice.publish("agents/alice/out", b"small", {h.TO: "kim"})
    kim_inbox = await fleet.consumer(f"{fleet.prefix}.kim.inbox")
    try:
        [delivered] = await records(kim_inbox, 1)
    finally:
        await kim_inbox.stop()
    [copy] = await quarantine.take(1)
    assert delivered.value == b"small"
    assert copy.payload == too_large
    assert copy.headers[h.REASON] == "broker-refused"
    assert copy.headers[h.RECIPIENT] == "kim"
    assert "MessageSizeTooLarge" in copy.headers[h.DETAIL]
    await wait_until(lambda: fleet.bridge.in_flight == 0)
