"""The no-op relay: consume outboxes, produce to inboxes, nothing decided.

It is the ceiling a Python relay on aiokafka can reach on this machine: the
same batching as membrane's relay (``create_batch``/``send_batch``), commits
after the broker acknowledged, and no policy, filters or sensors.
Run as ``python -m bus.bench.noop_relay BOOTSTRAP GROUP``.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bus import headers as h
from bus.bench.batcher import TopicBatcher

OUTBOX_PATTERN = r"agents\..+\.outbox"


async def relay(bootstrap: str, group: str, stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        metadata_max_age_ms=1000,
        fetch_max_bytes=16 * 1024 * 1024,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=1)
    await producer.start()
    await consumer.start()
    consumer.subscribe(pattern=OUTBOX_PATTERN)
    try:
        while not stop.is_set():
            polled = await consumer.getmany(timeout_ms=100, max_records=20_000)
            if not polled:
                continue
            batcher = TopicBatcher(producer)
            for records in polled.values():
                for record in records:
                    to = dict(record.headers).get(h.TO, b"").decode()
                    await batcher.add(
                        f"agents.{to}.inbox", record.value, record.key, record.headers
                    )
            await batcher.flush()
            await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


def main() -> int:
    bootstrap, group = sys.argv[1], sys.argv[2]
    stop = asyncio.Event()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        await relay(bootstrap, group, stop)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
