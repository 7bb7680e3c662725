"""MQTT bridge throughput against a real Mosquitto, beside a direct-publish baseline.

Run from the repository root: ``python -m tests.mqtt.bench_bridge [--messages N]``.
Several agents publish QoS 1 messages of ``--size`` bytes to one recipient;
the figure is messages per second from the first publish to the last
delivery, with and without membrane in the path. The agents run in a child
process, so the bridge does not share its event loop with the load. Noisy
on a shared machine: read it as a ratio, not a promise.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
from pathlib import Path

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bus import headers as h
from bus.engine.engine import Engine
from bus.metrics import Metrics
from bus.mqtt.bridge import MqttBridge
from bus.mqtt.codec import new_properties
from bus.policy import PolicyHolder, load_policy
from tests.mqtt.conftest import MosquittoBroker, mqtt_section

SENDERS = ("s1", "s2", "s3", "s4")
RULES = """\
version: 1
groups:
  senders: {members: [s1, s2, s3, s4], transport: mqtt}
  sinks: {members: [sink], transport: mqtt}
edges:
  - {name: to-sink, from: senders, to: sink}
"""


def _properties(recipient: str) -> Properties:
    properties = new_properties(PacketTypes.PUBLISH)
    properties.UserProperty = [(h.TO, recipient)]
    return properties


async def _send(broker: MosquittoBroker, name: str, topic: str, count: int, size: int) -> None:
    payload = b"x" * size
    properties = _properties("sink")
    async with aiomqtt.Client(broker.host, broker.port, identifier=f"bench-{name}",
                              protocol=aiomqtt.ProtocolVersion.V5,
                              max_inflight_messages=100) as client:
        client.pending_calls_threshold = 10_000
        window = 200
        for start in range(0, count, window):
            await asyncio.gather(*(
                client.publish(topic.format(agent=name), payload, qos=1, properties=properties)
                for _ in range(min(window, count - start))
            ))


async def _run(broker: MosquittoBroker, topic: str, total: int, size: int) -> float:
    """Messages per second from the first publish to the last delivery at ``sink``."""
    received = 0
    async with aiomqtt.Client(broker.host, broker.port, identifier="bench-sink",
                              protocol=aiomqtt.ProtocolVersion.V5) as sink:
        await sink.subscribe("agents/sink/in", qos=1)
        started = time.perf_counter()
        per_sender = total // len(SENDERS)
        senders = asyncio.gather(*(_send(broker, s, topic, per_sender, size) for s in SENDERS))
        async for _ in sink.messages:
            received += 1
            if received == per_sender * len(SENDERS):
                break
        elapsed = time.perf_counter() - started
        await senders
    return received / elapsed


def _load(broker: MosquittoBroker, topic: str, total: int, size: int) -> float:
    """Runs the agents in a child process; returns their measured rate."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return float(pool.apply(_load_child, (broker.host, broker.port, topic, total, size)))


def _load_child(host: str, port: int, topic: str, total: int, size: int) -> float:
    broker = MosquittoBroker.__new__(MosquittoBroker)
    broker.host, broker.port = host, port
    return asyncio.run(_run(broker, topic, total, size))


async def main(total: int, size: int, receive_maximum: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        broker = MosquittoBroker(Path(directory))
        broker.start()
        try:
            direct = await asyncio.to_thread(_load, broker, "agents/sink/in", total, size)
            rules = Path(directory) / "rules.yaml"
            rules.write_text(RULES + mqtt_section(broker, "5", receive_maximum=receive_maximum))
            policy = load_policy(rules)
            engine = Engine(PolicyHolder(policy), metrics=Metrics(), transport_name="mqtt")
            await engine.start()
            bridge = MqttBridge(engine, policy.rules.mqtt)
            await bridge.start()
            await asyncio.wait_for(bridge.ready.wait(), 30)
            mediated = await asyncio.to_thread(_load, broker, "agents/{agent}/out", total, size)
            await bridge.stop()
            await engine.stop()
        finally:
            broker.stop()
    print(f"messages: {total}, payload: {size} B, QoS 1, MQTT 5, "
          f"receive maximum {receive_maximum}")
    print(f"direct (agent -> Mosquitto -> agent):          {direct:9.0f} msg/s")
    print(f"through membrane (agent -> bridge -> agent):   {mediated:9.0f} msg/s "
          f"({mediated / direct:.0%} of direct)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=250)
    parser.add_argument("--receive-maximum", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.size, args.receive_maximum))
