"""Liveness of the relay under faults: nothing it waits on can wait for ever.

Each test puts the relay where a wait could stall (held messages, a broker
that goes away, a stop) on the real embedded broker, and checks that every
message still arrives, or that the relay stops, within a generous bound.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bus import headers as h
from bus.embedded import EmbeddedBroker, free_port
from bus.engine.commit import OffsetTracker
from bus.metrics import Metrics
from bus.mqtt.service import MqttService
from bus.policy import PolicyHolder, load_policy
from bus.relay import Relay
from bus.relay.committer import Committer
from tests.mqtt.conftest import (  # noqa: F401 (fixtures)
    ConnectPeer,
    MosquittoBroker,
    mosquitto,
    mqtt_peer,
    mqtt_section,
    start_mosquitto,
)
from tests.polling import wait_until
from tests.relay.conftest import (
    create_topics,
    produce,
    producer_for,
    read_topics,
    rules_text,
    running_relay,
    settings,
    write_rules,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

SHAPED = """
filters:
  - filter: rate
    rate: 4
    burst: 1
    per: edge
    max_delay: 60
"""
SHAPED_MQTT = """
agents: {alice: {transport: mqtt}, bob: {transport: mqtt}, kim: {}}
edges:
  - {name: alice-to-bob, from: alice, to: bob}
""" + SHAPED
PLAIN = """
agents: {alice: {}, bob: {}, carol: {}}
edges:
  - {name: to-bob, from: [alice, carol], to: bob}
"""
SHAPED_KAFKA = PLAIN + SHAPED


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


def holder_of(tmp_path: Path, prefix: str, body: str) -> PolicyHolder:
    return PolicyHolder(load_policy(write_rules(tmp_path / "rules.yaml", prefix, body)))


async def crash(broker: EmbeddedBroker) -> None:
    """Kill the broker at once (a stop waits for its clients to go, up to 5 s)."""
    pid = broker.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await broker.stop()


HELD_PER_SENDER = """
agents: {alice: {}, bob: {}, carol: {}, kim: {}}
edges:
  - {name: to-bob, from: [alice, kim], to: bob}
  - {name: alice-to-carol, from: alice, to: carol}
filters:
  - filter: rate
    rate: 0.25
    burst: 1
    per: sender
    max_delay: 60
"""


async def test_a_session_restarted_during_an_outage_leaves_the_relay_alive(
        fresh_kafka_broker: EmbeddedBroker, tmp_path: Path, prefix: str,
        caplog: pytest.LogCaptureFixture) -> None:
    # alice's second message is held by the rate filter for 4 s and released
    # after the broker is gone. Its first write to carol's inbox fails for want
    # of metadata, so the relay closes the session while the consumer retries
    # its fetches.
    broker = fresh_kafka_broker
    async with running_relay(holder_of(tmp_path, prefix, HELD_PER_SENDER), broker, prefix,
                             backoff_initial=0.1, backoff_max=0.5,
                             request_timeout=3.0) as relay:
        async with producer_for(broker) as producer:
            await produce(producer, f"{prefix}.alice.outbox",
                          [([(h.TO, b"bob")], b"first"), ([(h.TO, b"carol")], b"held")])
        await wait_until(lambda: relay.engine.held == 1 and relay.in_flight == 1, timeout=60)
        await crash(broker)
        await wait_until(lambda: relay.engine.held == 0 and relay.in_flight == 0, timeout=60)
        assert any("reconnecting" in r.getMessage() for r in caplog.records)
        await broker.start()  # a new, empty cluster
        async with producer_for(broker) as producer:
            await produce(producer, f"{prefix}.kim.outbox", [([(h.TO, b"bob")], b"after")])
        records = await read_topics(broker, [f"{prefix}.bob.inbox"],
                                    lambda r: len(r) >= 1, timeout=60)
        assert [r.value for r in records] == [b"after"]
        assert relay.healthy and relay.failed is None


async def test_stop_while_the_broker_is_away_returns_and_leaves_no_task(
        fresh_kafka_broker: EmbeddedBroker, tmp_path: Path, prefix: str) -> None:
    broker = fresh_kafka_broker
    async with running_relay(holder_of(tmp_path, prefix, HELD_PER_SENDER), broker, prefix,
                             request_timeout=2.0) as relay:
        await crash(broker)  # the consumer's fetches now fail and are retried
        drained = await relay.stop(3)
        assert drained  # nothing was read, so nothing is left unfinished
        assert not relay.healthy
        assert other_tasks() == []




def partitions_known_to(relay: Relay, topic: str) -> int:
    """How many partitions of ``topic`` the relay's producer knows of."""
    session = relay._session
    if session is None:
        return 0
    return len(session._producer.client.cluster.partitions_for_topic(topic) or ())


def other_tasks() -> list[asyncio.Task[object]]:
    current = asyncio.current_task()
    return [t for t in asyncio.all_tasks() if t is not current]


async def test_stop_while_the_broker_hangs_leaves_no_client_running_once_it_answers(
        fresh_kafka_broker: EmbeddedBroker, tmp_path: Path, prefix: str) -> None:
    # The broker is paused (SIGSTOP) while released messages are being written:
    # the producer holds batches nobody acknowledges when the relay gives up
    # draining. Its clients must still end, at the latest once the broker answers.
    broker = fresh_kafka_broker
    pid = broker.pid
    assert pid is not None
    async with running_relay(holder_of(tmp_path, prefix, SHAPED_KAFKA), broker,
                             prefix) as relay:
        async with producer_for(broker) as producer:
            await produce(producer, f"{prefix}.alice.outbox",
                          [([(h.TO, b"bob")], b"m%d" % n) for n in range(20)])
        await wait_until(lambda: relay.engine.held >= 5, timeout=60)
        os.kill(pid, signal.SIGSTOP)
        held = relay.engine.held
        await wait_until(lambda: relay.engine.held < held, timeout=60)  # a write is under way
        assert not await relay.stop(2)
        assert not relay.healthy
    os.kill(pid, signal.SIGCONT)
    await wait_until(lambda: not other_tasks(), timeout=60)


async def test_an_inbox_that_comes_back_with_fewer_partitions_does_not_stall_the_writer(
        fresh_kafka_broker: EmbeddedBroker, tmp_path: Path, prefix: str) -> None:
    # bob's inbox has 6 partitions; alice's and carol's messages go to partition
    # 5 of them. The broker restarts empty and creates the inbox again with its
    # default of 3, while the relay's session goes on. (carol writes after the
    # restart: her outbox was not read before, so its new log is read whole.)
    broker = fresh_kafka_broker
    inbox = f"{prefix}.bob.inbox"
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(inbox, num_partitions=6, replication_factor=1)])
    finally:
        await admin.close()
    async with running_relay(holder_of(tmp_path, prefix, PLAIN), broker, prefix,
                             backoff_initial=0.1, backoff_max=0.5,
                             dedupe_seed_depth=0) as relay:
        async with producer_for(broker) as producer:
            await produce(producer, f"{prefix}.alice.outbox", [([(h.TO, b"bob")], b"one")])
        [before] = await read_topics(broker, [inbox], lambda r: len(r) >= 1)
        assert before.partition == 5
        await crash(broker)
        await broker.start()
        # Until the relay's producer has metadata from the new broker (a probe
        # every 2 s), it would write to partition 5 as if nothing happened.
        await wait_until(lambda: partitions_known_to(relay, inbox) == 0, timeout=60)
        async with producer_for(broker) as producer:
            await produce(producer, f"{prefix}.carol.outbox", [([(h.TO, b"bob")], b"two")])
        records = await read_topics(broker, [inbox], lambda r: len(r) >= 1, timeout=60)
        assert [r.value for r in records] == [b"two"]
        assert relay.healthy


async def test_a_commit_point_of_a_partition_no_longer_assigned_does_not_block_the_others(
        kafka_broker: EmbeddedBroker, prefix: str) -> None:
    # Partition 1 was read before a rebalance took it away; partition 0 stays.
    outbox = f"{prefix}.alice.outbox"
    kept = TopicPartition(outbox, 0)
    await create_topics(kafka_broker, [outbox])
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_broker.bootstrap,
                                group_id=f"membrane-{prefix}", enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([kept])
        tracker = OffsetTracker()
        committer = Committer(consumer, tracker)
        for partition in (0, 1):
            tracker.open(outbox, partition, 4).seal()
        await committer.commit()
        assert await consumer.committed(kept) == 5
        tracker.open(outbox, 0, 5).seal()
        await committer.commit()
        assert await consumer.committed(kept) == 6
    finally:
        await consumer.stop()
