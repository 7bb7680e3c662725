"""Policy through the gateway, with aiokafka clients, on the real embedded broker.

Every agent has its own sidecar gateway; clients know only the gateway's
address and reach the broker through the per-broker addresses it rewrites.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, PolicyViolationError, TopicAuthorizationFailedError

from bus.gateway.server import Gateway

if TYPE_CHECKING:
    from conftest import GatewayFactory, Team

pytestmark = pytest.mark.e2e

Headers = list[tuple[str, bytes]]


async def produce(
    gateway: Gateway, topic: str, value: bytes, headers: Headers, **config: object
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=gateway.bootstrap, **config)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, headers=headers, partition=0)
    finally:
        await producer.stop()


async def consume(
    gateway: Gateway, topic: str, count: int
) -> tuple[list[tuple[bytes, Headers]], int]:
    """The first ``count`` records of partition 0, and the consumer's position after them."""
    consumer = AIOKafkaConsumer(bootstrap_servers=gateway.bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        seen: list[tuple[bytes, Headers]] = []
        async with asyncio.timeout(30):
            while len(seen) < count:
                batch = await consumer.getmany(tp, timeout_ms=500)
                seen.extend((r.value, list(r.headers)) for r in batch.get(tp, []))
        return seen, await consumer.position(tp)
    finally:
        await consumer.stop()


def header(headers: Headers, name: str) -> list[bytes]:
    return [value for key, value in headers if key == name]


@pytest.mark.parametrize("codec", [None, "gzip", "snappy", "lz4", "zstd"])
async def test_delivery_is_stamped_and_forged_headers_are_replaced(
    team: Team, sidecar: GatewayFactory, codec: str | None
) -> None:
    alice, bob = await sidecar("alice"), await sidecar("bob")
    forged = [("membrane-from", b"mallory"), ("membrane-kind", b"task"), ("trace-id", b"t-1")]
    await produce(alice, team.inbox("bob"), b"do the thing", forged, compression_type=codec)

    [(value, headers)], _ = await consume(bob, team.inbox("bob"), 1)
    assert value == b"do the thing"
    assert header(headers, "membrane-from") == [b"alice"]
    assert header(headers, "membrane-kind") == [b"task"]
    assert header(headers, "membrane-hops") == [b"1"]
    assert header(headers, "membrane-policy") == [team.holder.current.version.encode()]
    assert header(headers, "trace-id") == [b"t-1"]
    assert team.metrics["alice"].gateway_records.labels(outcome="produced")._value.get() == 1


async def test_a_topic_outside_the_topology_is_refused_and_hidden(
    team: Team, sidecar: GatewayFactory
) -> None:
    carol_inbox = team.inbox("carol")
    # The topic exists on the broker (written directly, around the gateway).
    direct = AIOKafkaProducer(bootstrap_servers=team.broker.bootstrap)
    await direct.start()
    try:
        await direct.send_and_wait(carol_inbox, b"x", partition=0)
    finally:
        await direct.stop()

    alice = await sidecar("alice")
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(
            alice,
            carol_inbox,
            b"hello carol",
            [("membrane-kind", b"task")],
            request_timeout_ms=5000,
        )
    consumer = AIOKafkaConsumer(bootstrap_servers=alice.bootstrap)
    await consumer.start()
    try:
        listed = await consumer.topics()
    finally:
        await consumer.stop()
    assert carol_inbox not in listed
    assert all(
        t
        in {
            team.inbox("bob"),
            team.inbox("dave"),
            team.inbox("alice"),
            team.general,
            f"{team.prefix}.alice.outbox",
        }
        or not t.startswith(team.prefix)
        for t in listed
    )
    assert not any(t.startswith("__") for t in listed)
    denied = team.metrics["alice"].gateway_denied
    assert denied.labels(api="metadata", reason="topic-authorization")._value.get() >= 1


async def test_a_record_the_rules_deny_fails_its_whole_batch(
    team: Team, sidecar: GatewayFactory
) -> None:
    alice, bob = await sidecar("alice"), await sidecar("bob")
    with pytest.raises(PolicyViolationError):
        await produce(alice, team.inbox("bob"), b"gossip", [("membrane-kind", b"gossip")])
    await produce(alice, team.inbox("bob"), b"a task", [("membrane-kind", b"task")])
    [(value, _)], _ = await consume(bob, team.inbox("bob"), 1)
    assert value == b"a task"  # the denied record never reached the broker
    denied = team.metrics["alice"].gateway_denied
    assert denied.labels(api="produce", reason="policy")._value.get() == 1


async def test_fetching_another_agents_inbox_is_refused(
    team: Team, sidecar: GatewayFactory
) -> None:
    alice, bob = await sidecar("alice"), await sidecar("bob")
    await produce(alice, team.inbox("bob"), b"for bob only", [("membrane-kind", b"task")])
    with pytest.raises(KafkaError) as caught:
        await consume(alice, team.inbox("bob"), 1)
    assert isinstance(caught.value, TopicAuthorizationFailedError) or "uthoriz" in str(caught.value)
    records, _ = await consume(bob, team.inbox("bob"), 1)
    assert records[0][0] == b"for bob only"


async def test_each_reader_sees_its_own_view_of_a_channel(
    team: Team, sidecar: GatewayFactory
) -> None:
    alice, carol, dave = await sidecar("alice"), await sidecar("carol"), await sidecar("dave")
    await produce(carol, team.general, b"carol says", [("membrane-kind", b"chat")])
    await produce(alice, team.general, b"alice says", [("membrane-kind", b"chat")])
    await produce(carol, team.general, b"carol again", [("membrane-kind", b"chat")])

    seen, position = await consume(dave, team.general, 1)
    assert [v for v, _ in seen] == [b"alice says"]
    seen_by_carol, _ = await consume(carol, team.general, 2)
    assert [v for v, _ in seen_by_carol] == [b"carol says", b"carol again"]
    # dave's position moves past carol's hidden records too: no stall, no refetch.
    consumer_end = 3
    deadline = asyncio.get_running_loop().time() + 30
    while position < consumer_end and asyncio.get_running_loop().time() < deadline:
        _, position = await consume(dave, team.general, 1)
    assert position == consumer_end
    assert team.metrics["dave"].gateway_records.labels(outcome="hidden")._value.get() >= 2
