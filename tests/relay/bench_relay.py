"""Relay throughput on the embedded broker: 250-byte messages, allowed, no filters.

Usage: python tests/relay/bench_relay.py [--messages N] [--senders S] [--runs R]

The outboxes are filled first; then a relay starts and the clock runs from
its first record to the moment every input is committed (all outputs
acknowledged). Reports wall-clock messages per second and the relay's own
CPU time per message (the broker runs in another process), which is the
steadier figure on a busy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer

from bus import headers as h
from bus.embedded import EmbeddedBroker
from bus.metrics import Metrics
from bus.policy import PolicyHolder, load_policy
from bus.relay import Relay, RelaySettings

PAYLOAD = b"x" * 250


def rules(prefix: str, senders: int) -> str:
    agents = ", ".join(f"s{n}: {{}}, r{n}: {{}}" for n in range(senders))
    edges = "\n".join(f"  - {{name: e{n}, from: s{n}, to: r{n}}}" for n in range(senders))
    return (f"version: 1\ntopics:\n  outbox: \"{prefix}.{{agent}}.out\"\n"
            f"  inbox: \"{prefix}.{{agent}}.in\"\n  quarantine: \"{prefix}.q\"\n"
            f"agents: {{{agents}}}\nedges:\n{edges}\n")


async def fill(broker: EmbeddedBroker, prefix: str, senders: int, messages: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, max_batch_size=512 * 1024)
    await producer.start()
    try:
        futures = []
        for n in range(senders):
            topic = f"{prefix}.s{n}.out"
            partitions = sorted(await producer.partitions_for(topic))
            batch = producer.create_batch()
            for i in range(messages // senders):
                headers = [(h.TO, f"r{n}".encode()), (h.ID, f"{n}-{i}".encode())]
                if batch.append(key=None, value=PAYLOAD, timestamp=None, headers=headers) is None:
                    part = partitions[i % len(partitions)]
                    futures.append(await producer.send_batch(batch, topic, partition=part))
                    batch = producer.create_batch()
                    batch.append(key=None, value=PAYLOAD, timestamp=None, headers=headers)
            futures.append(await producer.send_batch(batch, topic, partition=partitions[0]))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def one_run(broker: EmbeddedBroker, senders: int, messages: int) -> tuple[float, float]:
    prefix = f"b{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rules.yaml"
        path.write_text(rules(prefix, senders))
        holder = PolicyHolder(load_policy(path))
    await fill(broker, prefix, senders, messages)
    metrics = Metrics()
    relay = Relay(holder, bootstrap=broker.bootstrap, metrics=metrics,
                  settings=RelaySettings(group_id=prefix, session_timeout=2.0,
                                         heartbeat_interval=0.5))
    received = metrics.received.labels("kafka")
    await relay.start()
    try:
        while received._value.get() == 0:
            await asyncio.sleep(0.001)
        wall, cpu = time.perf_counter(), time.process_time()
        total = (messages // senders) * senders
        while received._value.get() < total or relay.in_flight:
            await asyncio.sleep(0.002)
        return time.perf_counter() - wall, time.process_time() - cpu
    finally:
        await relay.stop(10)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--senders", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    gc.set_threshold(20_000, 20, 50)  # as `membrane run` does
    async with EmbeddedBroker() as broker:
        rates, cpu_us = [], []
        for _ in range(args.runs):
            wall, cpu = await one_run(broker, args.senders, args.messages)
            rates.append(args.messages / wall)
            cpu_us.append(cpu / args.messages * 1e6)
            print(f"  {args.messages} messages in {wall:.2f}s: {rates[-1]:,.0f} msg/s, "
                  f"relay CPU {cpu_us[-1]:.1f} us/msg")
    print(f"median: {statistics.median(rates):,.0f} msg/s wall-clock, "
          f"{statistics.median(cpu_us):.1f} us CPU per message "
          f"(= {1e6 / statistics.median(cpu_us):,.0f} msg/s per core) "
          f"with {args.senders} sender(s), 250-byte payloads")


if __name__ == "__main__":
    asyncio.run(main())
