"""The no-op relay: consume outboxes, produce to inboxes, nothing decided.

It is the ceiling a Python relay on aiokafka can reach on this machine: the
same batching as membrane's relay (``create_batch``/``send_batch``), commits
after the broker acknowledged, and no policy, filters or sensors.
Run as ``python -m bus.bench.noop_relay BOOTSTRAP GROUP PREFIX``: it relays
the outboxes of the agents named ``PREFIX<n>`` and prints ``ready`` once the
consumer group gave it its partitions.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener

from bus import headers as h
from bus.bench.batcher import TopicBatcher
from bus.bench.workload import INBOX, OUTBOX

READY = "ready"


class _Announce(ConsumerRebalanceListener):  # type: ignore[misc]
    async def on_partitions_revoked(self, revoked: object) -> None:
        pass

    async def on_partitions_assigned(self, assigned: object) -> None:
        print(READY, flush=True)


def outbox_pattern(prefix: str) -> str:
    agent = re.escape(prefix) + r"\d+"
    return "^" + re.escape(OUTBOX).replace(re.escape("{agent}"), agent) + "$"


async def relay(bootstrap: str, group: str, prefix: str, stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        metadata_max_age_ms=1000,
        session_timeout_ms=6000,
        fetch_max_wait_ms=10,
        heartbeat_interval_ms=2000,
        fetch_max_bytes=16 * 1024 * 1024,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0,
                                max_batch_size=512 * 1024, max_request_size=2 * 1024 * 1024)
    await producer.start()
    await consumer.start()
    consumer.subscribe(pattern=outbox_pattern(prefix), listener=_Announce())
    try:
        while not stop.is_set():
            polled = await consumer.getmany(timeout_ms=100, max_records=20_000)
            if not polled:
                continue
            batcher = TopicBatcher(producer)
            for records in polled.values():
                for record in records:
                    to = next((v for k, v in record.headers if k == h.TO), b"").decode()
                    await batcher.add(INBOX.format(agent=to), record.value, record.key,
                                      record.headers)
            await batcher.flush()
            await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


def main() -> int:
    bootstrap, group, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
    stop = asyncio.Event()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        await relay(bootstrap, group, prefix, stop)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
