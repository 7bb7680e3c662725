"""A rebalance while the relay still holds part of a read, on the real embedded broker.

During the revoke callback the Kafka client leaves the assignment unchanged,
so a reader that goes on through a read it already holds keeps opening inputs
of partitions being given up, also after the revoke abandoned them. If the
relay gets such a partition back, the commit point of those late inputs can
pass an input that was held when the partition was abandoned: committed,
never written.

The test makes that moment deterministic. An engine that stops deciding at
one message keeps the rest of a read in the relay's hands while a second
member joins the group; the rate filter, on a fake clock, holds one earlier
input across the rebalance until the test moves the clock. The second member
subscribes to another topic only, so the relay gets its partition back.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from bus import headers as h
from bus.clock import FakeClock
from bus.embedded import EmbeddedBroker
from bus.engine.dedupe import DedupeWindow
from bus.engine.engine import Engine
from bus.engine.outcome import Outcome
from bus.envelope import Envelope
from bus.metrics import Metrics
from bus.policy import PolicyHolder, load_policy
from bus.relay.assignor import AffinityAssignor
from bus.relay.kafka_options import client_options
from bus.relay.session import Session
from bus.rules.transports import KafkaSettings
from tests.relay.conftest import (
    FAST_GROUP,
    create_topics,
    header,
    metric,
    produce,
    producer_for,
    read_topics,
    settings,
    write_rules,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

RULES = """
agents: {alice: {}, bob: {}, carol: {}}
edges:
  - {name: to-bob, from: alice, to: bob}
  - {name: to-carol, from: alice, to: carol}
filters:
  - filter: rate
    rate: 1
    burst: 1
    per: edge
    max_delay: 1000
    attach: {edges: ["alice->carol"]}
"""
MESSAGES = 40  # written as one record batch, so the relay reads them in one read
TO_CAROL = (2, 3)  # the first passes on the burst; the second is held until the clock moves
HELD = TO_CAROL[1]
GATE = 20  # the relay stops deciding here until the rebalance is over
WAIT = 60.0  # seconds; generous, the machine is shared


def same_topic(topic: str) -> str:
    return topic


class GatedEngine(Engine):
    """Stops at the first decision of message ``gate_id`` until ``gate`` is set."""

    def __init__(self, holder: PolicyHolder, clock: FakeClock, gate_id: str) -> None:
        super().__init__(holder, metrics=Metrics(), clock=clock)
        self.reached = asyncio.Event()
        self.gate = asyncio.Event()
        self._gate_id = gate_id

    async def handle(self, env: Envelope, origin: Hashable | None = None) -> list[Outcome]:
        if env.msg_id == self._gate_id and not self.reached.is_set():
            self.reached.set()
            await self.gate.wait()
        return await super().handle(env, origin)


class Assigned(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.event = asyncio.Event()

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.event.set()


@asynccontextmanager
async def running_session(engine: Engine, broker: EmbeddedBroker, prefix: str,
                          outbox: str) -> AsyncIterator[Session]:
    """A relay session reading ``outbox`` in its group, joined."""
    session = Session(engine, options=client_options(KafkaSettings(), broker.bootstrap),
                      settings=settings(prefix, revoke_timeout=2.0),
                      window=DedupeWindow(10_000), topics=(outbox,),
                      assignor=AffinityAssignor(same_topic), lanes={})
    await engine.start()
    engine.on_release(session.released)
    stopping = asyncio.Event()
    await session.open()
    run = asyncio.create_task(session.run(stopping))
    try:
        await asyncio.wait_for(session.joined.wait(), WAIT)
        yield session
    finally:
        stopping.set()
        if isinstance(engine, GatedEngine):
            engine.gate.set()
        try:
            await asyncio.wait_for(run, WAIT)
        finally:
            await session.close(5.0)
            await engine.stop()


@asynccontextmanager
async def group_member(broker: EmbeddedBroker, group: str, topic: str
                       ) -> AsyncIterator[Assigned]:
    """A second member of ``group`` subscribed to ``topic`` only: its joining makes the
    group rebalance, and the relay gets every outbox partition back."""
    listener = Assigned()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False,
        partition_assignment_strategy=(AffinityAssignor(same_topic),),
        session_timeout_ms=int(FAST_GROUP["session_timeout"] * 1000),
        heartbeat_interval_ms=int(FAST_GROUP["heartbeat_interval"] * 1000))
    await consumer.start()
    try:
        consumer.subscribe([topic], listener=listener)
        yield listener
    finally:
        await consumer.stop()


@asynccontextmanager
async def group_offsets(broker: EmbeddedBroker, group: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A client that reads ``group``'s committed offsets without joining it."""
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def test_input_held_across_a_rebalance_is_not_committed_past(
        kafka_broker: EmbeddedBroker, tmp_path: Path, prefix: str) -> None:
    holder = PolicyHolder(load_policy(write_rules(tmp_path / "rules.yaml", prefix, RULES)))
    clock = FakeClock()
    engine = GatedEngine(holder, clock, gate_id=f"m{GATE}")
    outbox, other = f"{prefix}.alice.outbox", f"{prefix}.other"
    inboxes = [f"{prefix}.bob.inbox", f"{prefix}.carol.inbox"]
    group = settings(prefix).group_id
    tp = TopicPartition(outbox, 0)
    await create_topics(kafka_broker, [outbox, other, *inboxes])
    messages = [([(h.TO, b"carol" if n in TO_CAROL else b"bob"), (h.ID, f"m{n}".encode())],
                 f'{{"n": {n}}}'.encode()) for n in range(MESSAGES)]

    async def ids_written(done: int) -> collections.Counter[str | None]:
        records = await read_topics(kafka_broker, inboxes, lambda r: len(r) >= done, WAIT)
        return collections.Counter(header(r, h.ID) for r in records)

    async with running_session(engine, kafka_broker, prefix, outbox) as session, \
            group_offsets(kafka_broker, group) as offsets:
        async with producer_for(kafka_broker) as producer:
            await produce(producer, outbox, messages)
        await asyncio.wait_for(engine.reached.wait(), WAIT)

        async with group_member(kafka_broker, group, other) as member:
            # The group has rebalanced: the relay drained its partition, wrote
            # the outputs decided before the gate, gave the partition up (the
            # held input and the gated one unfinished) and got it back.
            await asyncio.wait_for(member.event.wait(), WAIT)
            engine.gate.set()
            written = await ids_written(MESSAGES - 1)
            assert f"m{HELD}" not in written
            await session.commit()
            assert await offsets.committed(tp) == HELD, \
                "committed past an input whose output is not written"

            clock.advance(10.0)  # the held input is released, and written
            engine.wake()
            deadline = asyncio.get_running_loop().time() + WAIT
            while True:
                await session.commit()
                if await offsets.committed(tp) == MESSAGES:
                    break
                assert asyncio.get_running_loop().time() < deadline, "never committed all"
                await asyncio.sleep(0.2)
            written = await ids_written(MESSAGES)

    # Resumed from the committed offset: every input has exactly one output,
    # nothing skipped; read twice were only the inputs completed behind the
    # held one (not committed, so read again, and recognised as written).
    assert written == collections.Counter(f"m{n}" for n in range(MESSAGES))
    assert metric(engine.metrics, "membrane_duplicates_removed_total") == GATE - HELD - 1
