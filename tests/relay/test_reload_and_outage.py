"""Hot reload under traffic, and a broker that is away at start or goes away mid-stream."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from bus import headers as h
from bus.embedded import EmbeddedBroker, free_port
from bus.metrics import Metrics
from bus.policy import PolicyHolder, load_policy
from bus.relay import Relay
from bus.relay.reloader import RulesReloader
from tests.polling import wait_until
from tests.relay.conftest import (
    header,
    metric,
    produce,
    producer_for,
    read_topics,
    running_relay,
    settings,
    write_rules,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

BEFORE = """
agents: {alice: {}, bob: {}, carol: {}}
edges:
  - {name: alice-to-bob, from: alice, to: bob}
"""
AFTER = BEFORE + "  - {name: alice-to-carol, from: alice, to: carol}\n"


async def test_hot_reload_changes_decisions_without_losing_a_message(
        kafka_broker: EmbeddedBroker, tmp_path: Path, prefix: str) -> None:
    total = 3_000
    path = write_rules(tmp_path / "rules.yaml", prefix, BEFORE)
    holder = PolicyHolder(load_policy(path))
    old_version = holder.current.version
    topics = [f"{prefix}.bob.inbox", f"{prefix}.carol.inbox", f"{prefix}.quarantine"]
    async with running_relay(holder, kafka_broker, prefix) as relay, \
            producer_for(kafka_broker) as producer:
        reloader = RulesReloader(holder, [path], relay.metrics, interval=0.1)
        await reloader.start()
        try:
            for start in range(0, total, 100):
                batch = [([(h.TO, b"carol" if n % 2 else b"bob"), (h.ID, f"m-{n}".encode())],
                          b"x") for n in range(start, start + 100)]
                await produce(producer, f"{prefix}.alice.outbox", batch)
                if start == total // 2:
                    write_rules(path, prefix, AFTER)
                    while holder.current.version == old_version:
                        await asyncio.sleep(0.05)
                await asyncio.sleep(0.02)
            records = await read_topics(kafka_broker, topics, lambda r: len(r) >= total)
            write_rules(path, prefix, "edges: [this is not a rule]\n")
            await asyncio.sleep(0.5)
            reloads = (metric(relay.metrics, "membrane_policy_reloads_total", result="success"),
                       metric(relay.metrics, "membrane_policy_reloads_total", result="failure"))
        finally:
            await reloader.stop()

    ids = [header(r, h.ID) for r in records]
    assert sorted(ids, key=lambda i: int((i or "m-0")[2:])) == [f"m-{n}" for n in range(total)]
    to_carol = {int((header(r, h.ID) or "")[2:]): r for r in records
                if r.topic != f"{prefix}.bob.inbox"}
    refused = sorted(n for n, r in to_carol.items() if r.topic.endswith("quarantine"))
    delivered = sorted(n for n, r in to_carol.items() if r.topic.endswith("carol.inbox"))
    assert refused and delivered
    assert max(refused) < min(delivered), "decisions flipped back and forth"
    assert {header(to_carol[n], h.POLICY) for n in delivered} == {holder.current.version}
    assert holder.current.version != old_version  # the broken file kept the good rules
    assert reloads == (1, 1)


async def test_broker_down_at_start_then_up(tmp_path: Path, prefix: str) -> None:
    port = free_port()
    holder = PolicyHolder(load_policy(write_rules(tmp_path / "rules.yaml", prefix, BEFORE)))
    metrics = Metrics()
    relay = Relay(holder, bootstrap=f"127.0.0.1:{port}", metrics=metrics,
                  settings=settings(prefix, backoff_initial=0.1, backoff_max=0.5))
    broker = EmbeddedBroker(port=port)
    await relay.start()
    try:
        await asyncio.sleep(1.5)
        assert relay.healthy and not relay.ready
        assert metric(metrics, "membrane_broker_connected", transport="kafka") == 0
        await broker.start()
        await relay.wait_ready(60)
        assert metric(metrics, "membrane_broker_connected", transport="kafka") == 1
        async with producer_for(broker) as producer:
            await produce(producer, f"{prefix}.alice.outbox", [([(h.TO, b"bob")], b"late")])
        [record] = await read_topics(broker, [f"{prefix}.bob.inbox"], lambda r: len(r) >= 1)
        assert record.value == b"late"
    finally:
        await relay.stop(5)
        await broker.stop()


def connected(relay: Relay) -> float:
    return metric(relay.metrics, "membrane_broker_connected", transport="kafka")


async def test_broker_lost_mid_stream_the_relay_recovers(tmp_path: Path, prefix: str) -> None:
    port = free_port()
    holder = PolicyHolder(load_policy(write_rules(tmp_path / "rules.yaml", prefix, BEFORE)))
    broker = EmbeddedBroker(port=port)
    await broker.start()
    try:
        async with running_relay(holder, broker, prefix, backoff_initial=0.1,
                                 backoff_max=0.5, request_timeout=3.0) as relay:
            async with producer_for(broker) as producer:
                await produce(producer, f"{prefix}.alice.outbox", [([(h.TO, b"bob")], b"one")])
            await read_topics(broker, [f"{prefix}.bob.inbox"], lambda r: len(r) >= 1)
            assert relay.ready
            await broker.stop()  # the embedded broker keeps nothing: a new, empty cluster
            # No traffic, so nothing fails: only the probe can tell the broker is gone.
            await wait_until(lambda: not relay.ready, timeout=60)
            # The gauge follows once the probe in flight gives up.
            await wait_until(lambda: connected(relay) == 0, timeout=60)
            assert relay.healthy
            await broker.start()
            async with producer_for(broker) as producer:
                await produce(producer, f"{prefix}.alice.outbox", [([(h.TO, b"bob")], b"two")])
            records = await read_topics(broker, [f"{prefix}.bob.inbox"],
                                        lambda r: len(r) >= 1, timeout=90)
            assert [r.value for r in records] == [b"two"]
            await wait_until(lambda: relay.ready, timeout=60)
            await wait_until(lambda: connected(relay) == 1, timeout=60)
    finally:
        await broker.stop()


async def test_a_recreated_log_behind_the_committed_offset_is_read_from_its_start(
        kafka_broker: EmbeddedBroker, tmp_path: Path, prefix: str) -> None:
    # What a broker that lost its data (or a deleted and recreated topic) looks like:
    # the group's committed offset points past the end of the log.
    holder = PolicyHolder(load_policy(write_rules(tmp_path / "rules.yaml", prefix, BEFORE)))
    outbox = f"{prefix}.alice.outbox"
    async with producer_for(kafka_broker) as producer:
        await produce(producer, outbox, [([(h.TO, b"bob"), (h.ID, f"m-{n}".encode())], b"x")
                                         for n in range(5)])
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_broker.bootstrap,
                                group_id=f"membrane-{prefix}", enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(outbox, 0)])
        await consumer.commit({TopicPartition(outbox, 0): OffsetAndMetadata(1_000, "")})
    finally:
        await consumer.stop()

    async with running_relay(holder, kafka_broker, prefix, commit_interval=0.1):
        records = await read_topics(kafka_broker, [f"{prefix}.bob.inbox"],
                                    lambda r: len(r) >= 5)
    assert [header(r, h.ID) for r in records] == [f"m-{n}" for n in range(5)]
