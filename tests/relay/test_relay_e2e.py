"""The relay on the real embedded broker: delivery, identity, quarantine, fan-out, order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bus import headers as h
from bus.embedded import EmbeddedBroker
from bus.policy import PolicyHolder, load_policy
from tests.relay.conftest import (
    header,
    metric,
    produce,
    producer_for,
    read_topics,
    running_relay,
    write_rules,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

TEAM = """
agents:
  alice: {groups: [team]}
  bob: {groups: [team]}
  carol: {groups: [team]}
  dave: {}
groups:
  team: {}
edges:
  - {name: alice-to-team, from: alice, to: [bob, carol]}
  - {name: bob-to-alice, from: bob, to: alice}
  - {name: carol-trial, from: carol, to: alice, action: deny, mode: shadow}
  - {name: carol-to-alice, from: carol, to: alice}
"""


def holder_for(tmp_path: Path, prefix: str, body: str = TEAM) -> PolicyHolder:
    return PolicyHolder(load_policy(write_rules(tmp_path / "rules.yaml", prefix, body)))


async def test_allowed_denied_and_forged(kafka_broker: EmbeddedBroker, tmp_path: Path,
                                         prefix: str) -> None:
    holder = holder_for(tmp_path, prefix)
    async with running_relay(holder, kafka_broker, prefix) as relay, \
            producer_for(kafka_broker) as producer:
        await produce(producer, f"{prefix}.alice.outbox", [
            ([(h.TO, b"bob"), (h.ID, b"ok-1"), (h.FROM, b"carol")], b'{"n": 1}'),
        ])
        await produce(producer, f"{prefix}.bob.outbox", [
            ([(h.TO, b"carol"), (h.ID, b"no-1")], b'{"n": 2}'),
        ])
        inbox = await read_topics(kafka_broker, [f"{prefix}.bob.inbox"], lambda r: len(r) >= 1)
        quarantine = await read_topics(kafka_broker, [f"{prefix}.quarantine"],
                                       lambda r: len(r) >= 1)
        metrics = relay.metrics

    [delivered] = inbox
    assert header(delivered, h.FROM) == "alice"  # the forged "carol" did not survive
    assert [v for k, v in delivered.headers if k == h.FROM] == [b"alice"]
    assert header(delivered, h.ID) == "ok-1"
    assert header(delivered, h.POLICY) == holder.current.version
    assert json.loads(delivered.value or b"") == {"n": 1}

    [refused] = quarantine
    assert header(refused, h.ID) == "no-1"
    assert header(refused, h.FROM) == "bob"
    assert header(refused, h.VERDICT) == "deny"
    assert header(refused, h.REASON) == "default-deny"
    assert header(refused, h.RECIPIENT) == "carol"
    assert header(refused, h.ORIGIN_TOPIC) == f"{prefix}.bob.outbox"
    assert header(refused, h.ORIGIN_OFFSET) == "0"
    assert metric(metrics, "membrane_messages_total", transport="kafka",
                  outcome="forwarded") == 1
    assert metric(metrics, "membrane_quarantined_total", reason="default-deny") == 1
    # Each input timed once, from its read to its (only) output's acknowledgement.
    assert metric(metrics, "membrane_relay_transit_seconds_count", transport="kafka") == 2
    assert 0 < metric(metrics, "membrane_relay_transit_seconds_sum", transport="kafka") < 60
    # The two outputs went to two topics: two batches, each acknowledged once.
    assert metric(metrics, "membrane_relay_produce_seconds_count", transport="kafka") == 2


async def test_fan_out_follows_the_topology(kafka_broker: EmbeddedBroker, tmp_path: Path,
                                            prefix: str) -> None:
    holder = holder_for(tmp_path, prefix)
    async with running_relay(holder, kafka_broker, prefix), producer_for(kafka_broker) as p:
        await produce(p, f"{prefix}.alice.outbox", [([(h.ID, b"fan-1")], b"hello")])
        topics = [f"{prefix}.{a}.inbox" for a in ("bob", "carol", "dave", "alice")]
        records = await read_topics(kafka_broker, topics, lambda r: len(r) >= 2)

    assert sorted(r.topic for r in records) == [f"{prefix}.bob.inbox", f"{prefix}.carol.inbox"]
    assert {header(r, h.ID) for r in records} == {"fan-1"}


async def test_a_shadow_rule_lets_traffic_through_and_counts_it(
        kafka_broker: EmbeddedBroker, tmp_path: Path, prefix: str) -> None:
    holder = holder_for(tmp_path, prefix)
    async with running_relay(holder, kafka_broker, prefix) as relay, \
            producer_for(kafka_broker) as p:
        await produce(p, f"{prefix}.carol.outbox",
                      [([(h.TO, b"alice")], f"{n}".encode()) for n in range(5)])
        records = await read_topics(kafka_broker, [f"{prefix}.alice.inbox"],
                                    lambda r: len(r) >= 5)
        metrics = relay.metrics
    assert [r.value for r in records] == [f"{n}".encode() for n in range(5)]
    assert metric(metrics, "membrane_policy_decisions_total", rule="carol-trial",
                  verdict="shadow_deny") == 5
    assert metric(metrics, "membrane_messages_total", transport="kafka",
                  outcome="shadowed") == 5


async def test_undecodable_input_is_quarantined_not_dropped(
        kafka_broker: EmbeddedBroker, tmp_path: Path, prefix: str) -> None:
    holder = holder_for(tmp_path, prefix)
    async with running_relay(holder, kafka_broker, prefix), producer_for(kafka_broker) as p:
        await produce(p, f"{prefix}.alice.outbox", [([(h.HOPS, b"lots")], b"x")])
        [record] = await read_topics(kafka_broker, [f"{prefix}.quarantine"],
                                     lambda r: len(r) >= 1)
    assert header(record, h.VERDICT) == "invalid"
    assert header(record, h.REASON) == "bad-hops"
    assert header(record, h.FROM) == "alice"
    assert record.value == b"x"


async def test_per_pair_order_over_thousands_of_messages(
        kafka_broker: EmbeddedBroker, tmp_path: Path, prefix: str) -> None:
    holder = holder_for(tmp_path, prefix)
    count = 3_000
    async with running_relay(holder, kafka_broker, prefix), producer_for(kafka_broker) as p:
        # Two outbox partitions and two senders, interleaved at the recipient.
        for partition in (0, 1):
            await produce(p, f"{prefix}.alice.outbox",
                          [([(h.TO, b"bob"), (h.ID, f"a{partition}-{n}".encode())],
                            b"x" * 250) for n in range(count // 2)], partition=partition)
        await produce(p, f"{prefix}.carol.outbox",
                      [([(h.TO, b"alice"), (h.ID, f"c-{n}".encode())], b"y")
                       for n in range(count)])
        bob = await read_topics(kafka_broker, [f"{prefix}.bob.inbox"],
                                lambda r: len(r) >= count)
        alice = await read_topics(kafka_broker, [f"{prefix}.alice.inbox"],
                                  lambda r: len(r) >= count)

    for partition in (0, 1):
        ids = [header(r, h.ID) for r in bob if (header(r, h.ID) or "").startswith(f"a{partition}")]
        assert ids == [f"a{partition}-{n}" for n in range(count // 2)]
    assert len({r.partition for r in bob}) == 1  # one pair, one inbox partition
    assert [header(r, h.ID) for r in alice] == [f"c-{n}" for n in range(count)]
