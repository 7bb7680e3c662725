"""Running one swarm through membrane: rules on disk, a relay, a broker, the agents.

``run_kafka`` is the real thing: the scenario's rules are written as a YAML
rules file and loaded as ``membrane run`` loads it; a relay (the same
``bus.relay.Relay`` that ``membrane run`` starts) reads the agents' outboxes
on an embedded broker (or a given one) and writes their inboxes and the
quarantine topic; the agents are Kafka clients. Filters and sensors read a
logical clock that the rounds move, so time-based damping is reproducible.

``run_local`` decides the same messages with the same engine in memory.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import yaml

from bus.clock import FakeClock
from bus.embedded import EmbeddedBroker
from bus.metrics import Metrics
from bus.policy import Policy, PolicyHolder, load_policy
from bus.relay import Relay, RelaySettings
from bus.sensors import SensorHub
from bus.sim.kafka_transport import KafkaTransport
from bus.sim.local_transport import LocalTransport
from bus.sim.play import RoundCallback, RunRecord, play
from bus.sim.probe import RelayProbe
from bus.sim.scenario import Rules, Swarm

RELAY_READY_TIMEOUT = 60.0


def sim_relay_settings(run_id: str) -> RelaySettings:
    """A relay tuned for latency: every round waits on its reads, and on its group join
    once per run (a one-member group can use a short session)."""
    return RelaySettings(group_id=f"membrane-sim-{run_id}", fetch_max_wait=0.02,
                         session_timeout=2.0, heartbeat_interval=0.2)


class _PlainDumper(yaml.SafeDumper):
    """Writes repeated lists out in full: a rules file is for people to read."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def write_rules(rules: Rules, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.dump(rules, Dumper=_PlainDumper, sort_keys=False), encoding="utf-8")
    return path


def namespaced(rules: Rules, namespace: str) -> Rules:
    """The rules with every topic prefixed, so runs sharing a broker never meet."""
    topics: dict[str, Any] = {
        "outbox": f"{namespace}.agents.{{agent}}.outbox",
        "inbox": f"{namespace}.agents.{{agent}}.inbox",
        "quarantine": f"{namespace}.membrane.quarantine",
    }
    return {**rules, "topics": topics}


def load_swarm_policy(rules: Rules, workdir: Path) -> Policy:
    return load_policy(write_rules(rules, workdir / "rules.yaml"))


async def run_local(swarm: Swarm, workdir: Path, on_round: RoundCallback | None = None
                    ) -> RunRecord:
    policy = load_swarm_policy(swarm.rules, workdir)
    clock = FakeClock()
    sensors = SensorHub(policy.rules.sensors, clock)
    transport = LocalTransport(PolicyHolder(policy), clock, sensors)
    return await play(swarm, transport, clock, on_round)


@contextlib.asynccontextmanager
async def _broker(bootstrap: str | None) -> AsyncIterator[str]:
    if bootstrap is not None:
        yield bootstrap
        return
    async with EmbeddedBroker() as broker:
        yield broker.bootstrap


async def run_kafka(swarm: Swarm, workdir: Path, *, bootstrap: str | None = None,
                    namespace: str | None = None, on_round: RoundCallback | None = None,
                    pace: float = 0.0) -> RunRecord:
    """Play ``swarm`` through a relay on a broker: ``bootstrap``, or a fresh embedded one.

    On a shared broker the run's topics get a prefix, ``namespace`` or a unique one.
    """
    run_id = uuid.uuid4().hex[:10]
    if bootstrap is not None and namespace is None:
        namespace = f"sim-{run_id}"
    rules = swarm.rules if namespace is None else namespaced(swarm.rules, namespace)
    policy = load_swarm_policy(rules, workdir)
    agents = [agent.name for agent in swarm.agents]
    clock = FakeClock()
    sensors = SensorHub(policy.rules.sensors, clock)
    async with _broker(bootstrap) as address:
        relay = Relay(PolicyHolder(policy), bootstrap=address, metrics=Metrics(),
                      settings=sim_relay_settings(run_id),
                      topics=[policy.outbox_topic(a) for a in agents], sensors=sensors,
                      clock=clock)
        # Filters may couple senders (see KafkaTransport): then one sender at a time.
        transport = KafkaTransport(bootstrap=address, policy=policy, agents=agents,
                                   probe=RelayProbe(relay.engine, clock),
                                   serial=bool(policy.rules.filters))
        await transport.start()  # topics exist before the relay subscribes
        try:
            await relay.start()
            await relay.wait_ready(RELAY_READY_TIMEOUT)
            return await play(swarm, transport, clock, on_round, pace)
        finally:
            await transport.stop()
            await relay.stop(grace=5.0)
