"""Bad messages on the real broker: each is quarantined with a clear reason (or
delivered, when it is merely unusual), and the relay keeps running.

Every bad message is followed by a good one from the same sender on the same
outbox partition; that one must be delivered, which proves the relay read
past the bad message and is still working. The ledger then checks the whole
run: every input is delivered or quarantined, nothing lost, nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from bus import headers as h
from bus.embedded import EmbeddedBroker
from bus.policy import PolicyHolder, load_policy
from bus.relay.sink import partition_of
from bus.reliability import Ledger
from bus.reliability.ledger import LEDGER_HEADER
from bus.reliability.traffic import NumberedProducer, OutputReader, partition_counts
from tests.relay.conftest import read_topics, running_relay, write_rules

from .rawrecords import PLACEHOLDER, batch_with_header_name, raw_batch

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

RULES = """
agents: {alice: {}, bob: {}, carol: {}}
constitution:
  - {name: size-cap, max_bytes: 1048576}
edges:
  - {name: alice-to-bob, from: alice, to: bob}
  - {name: alice-to-carol, from: alice, to: carol, require_fields: [task],
     content_type: application/json}
"""
JSON = (("content-type", b"application/json"),)
MIB = 1024 * 1024
Headers = tuple[tuple[str, bytes | None], ...]


@dataclass(frozen=True)
class Case:
    name: str
    headers: Headers
    expect: tuple[tuple[str, str], ...]  # (bob | carol | quarantine:<slot>, reason or "")
    value: bytes | None = b"{}"
    key: bytes | None = None
    raw_name: bytes | None = field(default=None)  # a header name no aiokafka client writes


CASES = (
    Case("binary payload where JSON is required", ((h.TO, b"carol"), *JSON),
         (("quarantine:carol", "missing-field"),), value=b"\xff\xfe\x00\x01binary"),
    Case("binary payload without the content type", ((h.TO, b"carol"),),
         (("quarantine:carol", "content-type"),), value=b"\x00\x01"),
    Case("JSON without the required field", ((h.TO, b"carol"), *JSON),
         (("quarantine:carol", "missing-field"),), value=b'{"other": 1}'),
    Case("membrane-to is not UTF-8", ((h.TO, b"\xff\xfe"),), (("quarantine:", "bad-header"),)),
    Case("membrane-to twice", ((h.TO, b"bob"), (h.TO, b"carol")),
         (("quarantine:", "duplicate-header"),)),
    Case("Membrane-Kind and membrane-kind", ((h.TO, b"bob"), ("Membrane-Kind", b"a"),
                                             (h.KIND, b"b")),
         (("quarantine:", "duplicate-header"),)),
    Case("empty membrane-id", ((h.TO, b"bob"), (h.ID, b"")), (("quarantine:", "bad-header"),)),
    Case("hops 'two'", ((h.TO, b"bob"), (h.HOPS, b"two")), (("quarantine:", "bad-hops"),)),
    Case("hops '²'", ((h.TO, b"bob"), (h.HOPS, "²".encode())), (("quarantine:", "bad-hops"),)),
    Case("hops of 5,000 digits", ((h.TO, b"bob"), (h.HOPS, b"9" * 5000)),
         (("quarantine:", "bad-hops"),)),
    Case("a path of 10,000 hops", ((h.TO, b"bob"), (h.PATH, ",".join("p" * 10_000).encode())),
         (("quarantine:", "too-many"),)),
    Case("10,000 recipients", ((h.TO, ",".join(["bob"] * 10_000).encode()),),
         (("quarantine:", "too-many"),)),
    Case("an unknown recipient", ((h.TO, b"mallory"),),
         (("quarantine:mallory", "unknown-recipient"),)),
    Case("a known and an unknown recipient", ((h.TO, b"bob,mallory"),),
         (("bob", ""), ("quarantine:mallory", "unknown-recipient"))),
    Case("a 2 MiB payload over the constitution's cap", ((h.TO, b"bob"),),
         (("quarantine:bob", "too-large"),), value=b"x" * (2 * MIB)),
    Case("headers over 64 KiB", ((h.TO, b"bob"), ("x-big", b"x" * 70_000)),
         (("quarantine:", "headers-too-large"),)),
    Case("an empty key", ((h.TO, b"bob"),), (("bob", ""),), key=b""),
    Case("a tombstone (null value)", ((h.TO, b"bob"),), (("bob", ""),), value=None, key=b"k"),
    Case("a tombstone where JSON is required", ((h.TO, b"carol"), *JSON),
         (("quarantine:carol", "missing-field"),), value=None, key=b"k"),
    Case("no key and no value", ((h.TO, b"bob"),), (("bob", ""),), value=None),
    Case("a null membrane-to (fan out)", ((h.TO, None), *JSON),
         (("bob", ""), ("carol", "")), value=b'{"task": 1}'),
    Case("a header name that is not UTF-8", ((h.TO, b"bob"),),
         (("quarantine:", "unreadable-record"),), raw_name=b"\xff\xfe\xfd\xfc"),
)
CANARY = 1_000  # the good message after case i is input CANARY + i


async def send_raw(producer: AIOKafkaProducer, topic: str, seq: int, case: Case) -> int:
    headers = [(n, v if v is not None else b"") for n, v in case.headers]
    batch = batch_with_header_name(producer, case.raw_name or b"", value=case.value or b"",
                                   headers=[*headers, (LEDGER_HEADER, str(seq).encode())])
    return int((await (await producer.send_batch(batch, topic, partition=0))).offset)


async def test_bad_messages_are_quarantined_with_a_reason_and_the_relay_keeps_going(
    kafka_broker: EmbeddedBroker, tmp_path: Path, prefix: str
) -> None:
    bootstrap = kafka_broker.bootstrap
    holder = PolicyHolder(load_policy(write_rules(tmp_path / "rules.yaml", prefix, RULES)))
    outbox = f"{prefix}.alice.outbox"
    seen: dict[int, list[tuple[str, str]]] = {}
    unreadable: list[Any] = []

    def collect(topic: str, seq: int, record: Any) -> None:
        headers = dict(record.headers)
        if topic.endswith(".quarantine"):
            where = "quarantine:" + headers.get(h.RECIPIENT, b"").decode()
            reason = headers[h.REASON].decode()
        else:
            where, reason = topic.split(".")[-2], ""
        seen.setdefault(seq, []).append((where, reason))

    ledger = Ledger()
    inboxes = {f"{prefix}.bob.inbox": "bob", f"{prefix}.carol.inbox": "carol"}
    async with running_relay(holder, kafka_broker, prefix) as relay, \
            OutputReader(bootstrap, ledger, inboxes=inboxes, quarantine=f"{prefix}.quarantine",
                         on_record=collect) as reader, \
            NumberedProducer(bootstrap, ledger) as producer:
        raw = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await raw.start()
        try:
            for i, case in enumerate(CASES):
                if case.raw_name is not None:
                    await producer.flush()
                    unreadable.append(await send_raw(raw, outbox, i, case))
                else:
                    await producer.send(outbox, i, headers=case.headers, value=case.value,
                                        key=case.key, outputs=len(case.expect), partition=0)
                await producer.send(outbox, CANARY + i, headers=[(h.TO, b"bob")], partition=0)
            await producer.flush()
        finally:
            await raw.stop()
        expected = sum(len(c.expect) for c in CASES if c.raw_name is None) + len(CASES)
        await reader.wait(lambda: reader.records >= expected + len(unreadable), 120)
        await reader.settle()
        placeholders = reader.foreign
        healthy, failed = relay.healthy, relay.failed
    wrong = {case.name: sorted(seen.get(i, [])) for i, case in enumerate(CASES)
             if case.raw_name is None and sorted(seen.get(i, [])) != sorted(case.expect)}
    assert wrong == {}, wrong
    assert [seen.get(CANARY + i) for i in range(len(CASES))] == [[("bob", "")]] * len(CASES)
    assert placeholders == len(unreadable)  # one whole-message copy per unreadable record
    assert healthy and failed is None
    result = ledger.reconcile()
    assert result.lost == 0 and result.duplicates == 0 and result.unexpected == 0


async def test_an_unreadable_record_in_an_inbox_does_not_stop_the_relay(
    kafka_broker: EmbeddedBroker, tmp_path: Path, prefix: str
) -> None:
    """The dedupe window is refilled from the inboxes' tails before the first write; a
    record there that the client cannot parse (written around membrane) must not stop
    the relay from writing. It is planted in a partition alice's messages do not use,
    so the test's own reader can read hers."""
    bootstrap = kafka_broker.bootstrap
    inbox = f"{prefix}.bob.inbox"
    partitions = (await partition_counts(bootstrap, [inbox]))[inbox]
    planted = (partition_of("alice", partitions) + 1) % partitions
    holder = PolicyHolder(load_policy(write_rules(tmp_path / "rules.yaml", prefix, RULES)))
    raw = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await raw.start()
    try:
        batch = batch_with_header_name(raw, b"\xff\xfe\xfd\xfc", value=b"planted", headers=[])
        await (await raw.send_batch(batch, inbox, partition=planted))
    finally:
        await raw.stop()
    ledger = Ledger()
    async with running_relay(holder, kafka_broker, prefix) as relay, \
            NumberedProducer(bootstrap, ledger) as producer:
        for seq in range(100):
            await producer.send(f"{prefix}.alice.outbox", seq, headers=[(h.TO, b"bob")])
        await producer.flush()
        reader = OutputReader(bootstrap, ledger, inboxes={inbox: "bob"},
                              quarantine=f"{prefix}.quarantine",
                              partitions={inbox: [partition_of("alice", partitions)]})
        async with reader:
            complete = await reader.wait_complete(60)
        healthy = relay.healthy
    assert complete, ledger.reconcile().summary()
    assert healthy


async def test_records_after_an_unreadable_one_in_its_batch_are_quarantined_by_place(
    kafka_broker: EmbeddedBroker, tmp_path: Path, prefix: str
) -> None:
    """The client decodes a whole batch before it skips to an offset, so the records
    that follow an unreadable one in the same producer batch cannot be read either:
    each gets a quarantine copy naming its place; the record before it and the next
    batch are delivered."""
    outbox = f"{prefix}.alice.outbox"
    holder = PolicyHolder(load_policy(write_rules(tmp_path / "rules.yaml", prefix, RULES)))
    to_bob = [(h.TO, b"bob")]
    records = [(to_bob, b"first"), ([(PLACEHOLDER, b"?"), *to_bob], b"unreadable"),
               (to_bob, b"third"), (to_bob, b"fourth")]
    async with running_relay(holder, kafka_broker, prefix):
        raw = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
        await raw.start()
        try:
            batch = raw_batch(raw, b"\xff\xfe\xfd\xfc", records)
            base = (await (await raw.send_batch(batch, outbox, partition=0))).offset
            await raw.send_and_wait(outbox, b"next batch", headers=to_bob, partition=0)
        finally:
            await raw.stop()
        bob = await read_topics(kafka_broker, [f"{prefix}.bob.inbox"], lambda r: len(r) >= 2)
        quarantine = await read_topics(kafka_broker, [f"{prefix}.quarantine"],
                                       lambda r: len(r) >= 3)
    placed = sorted(int(dict(r.headers)[h.ORIGIN_OFFSET]) for r in quarantine)
    assert sorted(r.value for r in bob) == [b"first", b"next batch"]
    assert placed == [base + 1, base + 2, base + 3]
    assert {dict(r.headers)[h.REASON] for r in quarantine} == {b"unreadable-record"}
    assert all(r.value is None for r in quarantine)
