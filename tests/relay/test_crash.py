"""Relay processes killed, stopped and doubled: at-least-once, no loss, duplicates removed.

The relay runs as ``membrane run`` child processes against the shared
embedded broker. Messages carry ids ``m-<n>`` and are written to one outbox
partition, so message n sits at offset n.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from bus import headers as h
from bus.embedded import EmbeddedBroker
from tests.relay.conftest import (
    create_topics,
    header,
    produce,
    producer_for,
    read_topics,
    write_rules,
)
from tests.relay.processes import RelayProcess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

RULES = """
agents: {alice: {}, bob: {}, carol: {}, dave: {}, erin: {}, hub: {}}
edges:
  - {name: to-bob, from: alice, to: bob}
  - {name: to-hub, from: [alice, bob, carol, dave, erin], to: hub}
"""
DENIED_EVERY = 5  # every 5th message is addressed to carol, whom alice may not reach


def message(n: int) -> tuple[list[tuple[str, bytes]], bytes]:
    recipient = b"carol" if n % DENIED_EVERY == 0 else b"bob"
    return [(h.TO, recipient), (h.ID, f"m-{n}".encode())], b"x" * 250


def ids_of(records: list) -> Counter[str]:  # type: ignore[type-arg]
    return Counter(header(r, h.ID) or "" for r in records)


async def committed(broker: EmbeddedBroker, group: str, tp: TopicPartition) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.committed(tp) or 0
    finally:
        await consumer.stop()


async def test_sigkill_mid_stream_loses_nothing_and_dedupes_the_replays(
        kafka_broker: EmbeddedBroker, tmp_path: Path, prefix: str) -> None:
    total = 12_000
    rules = write_rules(tmp_path / "rules.yaml", prefix, RULES)
    group = f"membrane-{prefix}"
    outbox, inbox, quarantine = (f"{prefix}.alice.outbox", f"{prefix}.bob.inbox",
                                 f"{prefix}.quarantine")
    await create_topics(kafka_broker, [outbox, inbox, quarantine])
    first = RelayProcess(rules, kafka_broker.bootstrap, group)
    second = RelayProcess(rules, kafka_broker.bootstrap, group)
    try:
        async with producer_for(kafka_broker) as producer:
            await first.start()
            await first.wait_ready()

            async def write_all() -> None:
                for start in range(0, total, 400):  # a steady stream, not one burst
                    await produce(producer, outbox, map(message, range(start, start + 400)))
                    await asyncio.sleep(0.1)

            writer = asyncio.create_task(write_all())
            outputs = await read_topics(kafka_broker, [inbox, quarantine],
                                        lambda r: len(r) >= total // 3)
            first.kill()  # mid-stream: the writer is still writing
            await first.process.wait()  # type: ignore[union-attr]
            await writer
            await asyncio.sleep(1.0)  # let the broker finish what the dead relay had sent

            commit_point = await committed(kafka_broker, group, TopicPartition(outbox, 0))
            before = await read_topics(kafka_broker, [inbox, quarantine],
                                       lambda r: False, timeout=3)
            already_out = {i for i in ids_of(before) if int(i[2:]) >= commit_point}

            await second.start()
            everything = await read_topics(
                kafka_broker, [inbox, quarantine],
                lambda r: len(ids_of(r)) >= total, timeout=120)
            removed = await second.metric("membrane_duplicates_removed_total")
            assert await second.terminate() == 0
    finally:
        await first.close()
        await second.close()

    seen = ids_of(everything)
    print(f"\nSIGKILL test: {total} messages, killed after {len(outputs)} outputs, "
          f"commit point {commit_point}, {len(already_out)} outputs of uncommitted input "
          f"already written, dedupe window removed {removed:.0f}, duplicates left "
          f"{sum(seen.values()) - len(seen)}")
    assert set(seen) == {f"m-{n}" for n in range(total)}, "a message was lost"
    assert max(seen.values()) == 1, "a duplicate reached an inbox"
    assert removed == len(already_out)
    for record in everything:
        n = int((header(record, h.ID) or "m--1")[2:])
        assert record.topic == (quarantine if n % DENIED_EVERY == 0 else inbox)


async def test_sigterm_drains_commits_and_exits_zero(
        kafka_broker: EmbeddedBroker, tmp_path: Path, prefix: str) -> None:
    total = 5_000
    rules = write_rules(tmp_path / "rules.yaml", prefix, RULES)
    group = f"membrane-{prefix}"
    outbox = f"{prefix}.alice.outbox"
    await create_topics(kafka_broker, [outbox])
    relay = RelayProcess(rules, kafka_broker.bootstrap, group)
    try:
        await relay.start()
        await relay.wait_ready()
        async with producer_for(kafka_broker) as producer:
            await produce(producer, outbox, map(message, range(total)))
        await read_topics(kafka_broker, [f"{prefix}.bob.inbox", f"{prefix}.quarantine"],
                          lambda r: len(r) >= total // 2)
        assert await relay.terminate() == 0
    finally:
        await relay.close()
    # Everything read was finished and committed: a successor has nothing to redo.
    assert await committed(kafka_broker, group, TopicPartition(outbox, 0)) == total
    assert any("all input committed" in line for line in relay.output), relay.output


async def test_two_relays_in_one_group_split_the_load(
        kafka_broker: EmbeddedBroker, tmp_path: Path, prefix: str) -> None:
    senders = ("alice", "bob", "carol", "dave")
    per_sender = 1_500
    rules = write_rules(tmp_path / "rules.yaml", prefix, RULES)
    group = f"membrane-{prefix}"
    await create_topics(kafka_broker, [f"{prefix}.{s}.outbox" for s in senders])
    relays = [RelayProcess(rules, kafka_broker.bootstrap, group, "--assign", "agent")
              for _ in range(2)]
    try:
        for relay in relays:
            await relay.start()
        for relay in relays:
            await relay.wait_ready()
        async with producer_for(kafka_broker) as producer:
            for start in range(0, per_sender, 100):
                for sender in senders:
                    await produce(producer, f"{prefix}.{sender}.outbox",
                                  [([(h.TO, b"hub"), (h.ID, f"{sender}-{n}".encode())], b"x")
                                   for n in range(start, start + 100)])
                await asyncio.sleep(0.05)
        hub = await read_topics(kafka_broker, [f"{prefix}.hub.inbox"],
                                lambda r: len(ids_of(r)) >= per_sender * len(senders))
        received = [await r.metric("membrane_received_total", transport="kafka")
                    for r in relays]
        for relay in relays:
            assert await relay.terminate() == 0
    finally:
        for relay in relays:
            await relay.close()

    seen = ids_of(hub)
    assert set(seen) == {f"{s}-{n}" for s in senders for n in range(per_sender)}
    assert max(seen.values()) == 1
    assert all(count > 0 for count in received), received
    assert sum(received) >= per_sender * len(senders)
    for sender in senders:  # per-pair order survives the split
        order = [int(i.split("-")[1]) for i in (header(r, h.ID) or "" for r in hub)
                 if i.startswith(sender + "-")]
        assert order == sorted(order)
