"""Each scenario, small, through the real relay on the real broker.

The books must balance (every message sent is, per recipient, delivered or
quarantined, counted from what was read back from the inbox and quarantine
topics), the topics themselves must hold exactly those records, and the
numbers must equal those of the same seed decided in memory: the broker's
timing does not leak into the results.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from bus.embedded import EmbeddedBroker
from bus.sim.collective import CollectiveParams, CollectiveSwarm
from bus.sim.harness import run_kafka, run_local
from bus.sim.loops import LoopParams, LoopSwarm
from bus.sim.messages import Incoming, Outgoing
from bus.sim.play import RunRecord
from bus.sim.pressure import PressureParams, PressureSwarm
from bus.sim.rulesets import Topology, swarm_rules
from bus.sim.scenario import Rules, Swarm

pytestmark = pytest.mark.e2e


async def _records_in(bootstrap: str, topics: Sequence[str]) -> int:
    """Count the records in ``topics`` by reading them from the start.

    (Reading, not ``end_offsets``: the embedded broker reports the end of a
    partition in batches rather than records.) The run has returned, so
    everything is written; a second of silence means the end was reached.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                fetch_max_wait_ms=50)
    await consumer.start()
    try:
        partitions = [TopicPartition(t, 0) for t in topics]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        count, idle = 0, 0
        while idle < 5:
            batch = await consumer.getmany(timeout_ms=200)
            got = sum(len(records) for records in batch.values())
            count += got
            idle = 0 if got else idle + 1
        return count
    finally:
        await consumer.stop()




async def _compare(build: Callable[[], Swarm], broker: EmbeddedBroker, tmp_path: Path
                   ) -> tuple[RunRecord, int]:
    namespace = f"simtest-{uuid.uuid4().hex[:8]}"
    swarm = build()
    kafka = await run_kafka(swarm, tmp_path / "kafka", bootstrap=broker.bootstrap,
                            namespace=namespace)
    local = await run_local(build(), tmp_path / "local")
    assert kafka.ledger.check() == []
    assert kafka.summary == local.summary
    assert kafka.series == local.series
    names = [agent.name for agent in swarm.agents]
    topics = [f"{namespace}.agents.{n}.inbox" for n in names]
    on_topics = await _records_in(broker.bootstrap, [*topics, f"{namespace}.membrane.quarantine"])
    assert on_topics == kafka.ledger.delivered + kafka.ledger.quarantined
    return kafka, on_topics


async def test_collective_learning_through_the_relay(kafka_broker: EmbeddedBroker,
                                                     tmp_path: Path) -> None:
    params = CollectiveParams(agents=8, propositions=16, rounds=25, noise=0.1,
                              topology=Topology(name="small_world", degree=2, rewire=0.3))
    record, _ = await _compare(lambda: CollectiveSwarm(params, 7), kafka_broker,
                               tmp_path)
    assert record.ledger.sent_by_kind["hello"] == 8
    assert record.ledger.delivered_by_kind["hello"] == 16  # degree 2: two hellos each
    assert record.ledger.quarantined == 0


async def test_peer_pressure_with_the_sequester_damper_through_the_relay(
        kafka_broker: EmbeddedBroker, tmp_path: Path) -> None:
    params = PressureParams(agents=8, confederates=2, damper="sequester",
                            topology=Topology(name="full"))
    record, _ = await _compare(lambda: PressureSwarm(params, 3), kafka_broker,
                               tmp_path)
    assert record.ledger.delivered == 2 * 8 * 7  # two passes, everyone hears everyone
    assert record.series[-1]["held"] == 0


async def test_runaway_loops_with_damping_through_the_relay(kafka_broker: EmbeddedBroker,
                                                            tmp_path: Path) -> None:
    params = LoopParams(pattern="polite", rounds=40, damping=("pingpong",))
    record, _ = await _compare(lambda: LoopSwarm(params, 2), kafka_broker, tmp_path)
    assert 0 < record.ledger.delivered < 40  # delays then a cut: the loop slowed down
    # Requests and responses of one client-server pair come from two outboxes in
    # the same round: ping-pong state depends on their order, which must not vary.
    retry = LoopParams(pattern="retry", rounds=30, clients=4, call_interval=2, hiccup_start=5,
                       hiccup_end=15, damping=("pingpong", "rate"))
    stormy, _ = await _compare(lambda: LoopSwarm(retry, 2), kafka_broker,
                               tmp_path / "retry")
    assert stormy.ledger.quarantined_by_reason["rate-limit"] > 0


class Shouter:
    """Addresses every agent it knows by name, neighbours or not."""

    def __init__(self, name: str, roster: Sequence[str]) -> None:
        self._name = name
        self._others = tuple(n for n in roster if n != name)

    @property
    def name(self) -> str:
        return self._name

    async def step(self, round_no: int, inbox: Sequence[Incoming]) -> list[Outgoing]:
        return [Outgoing(kind="shout", to=self._others)] if round_no == 0 else []


class ShoutingSwarm:
    def __init__(self) -> None:
        names = [f"s{i}" for i in range(5)]
        self._agents = [Shouter(n, names) for n in names]
        self._rules = swarm_rules(names, topology=Topology(name="ring", degree=2))

    @property
    def agents(self) -> Sequence[Shouter]:
        return self._agents

    @property
    def rules(self) -> Rules:
        return self._rules

    rounds = 2
    seconds_per_round = 1.0

    def observe(self, round_no: int) -> Mapping[str, float]:
        return {}

    def summary(self) -> Mapping[str, float]:
        return {}


async def test_what_the_topology_forbids_is_quarantined_not_lost(
        kafka_broker: EmbeddedBroker, tmp_path: Path) -> None:
    record, on_topics = await _compare(ShoutingSwarm, kafka_broker, tmp_path)
    assert record.ledger.sent == 5
    assert record.ledger.delivered == 10  # each reaches its two ring neighbours
    assert record.ledger.quarantined == 10  # and is refused for the two others
    assert on_topics == 20
