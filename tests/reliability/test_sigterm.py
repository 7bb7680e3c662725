"""SIGTERM under load: the relay drains within ``--grace``, commits, exits 0; a relay
started afterwards delivers the rest and re-delivers nothing.

Writers keep writing while the relay is told to stop. Proved:

- exit code 0, and the process is gone within the grace period (plus the
  interpreter's own start and shutdown, which the grace period does not cover);
- the committed offset of every outbox partition is exactly the end of what
  the relay finished: every input below it has all its outputs, none at or
  above it has any (nothing committed early, nothing left uncommitted);
- a new relay in the same group then delivers the remaining inputs, and no
  output reaches a recipient twice.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from bus.embedded import EmbeddedBroker
from bus.reliability import Ledger, scaled
from bus.reliability.process import RelayProcess
from bus.reliability.traffic import NumberedProducer, OutputReader, partition_counts

from . import fleet
from .conftest import Report

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

GRACE = 5.0
SHUTDOWN_SLACK = 10.0  # interpreter exit, closing clients; the drain itself is within GRACE


async def committed_offsets(bootstrap: str, group: str, topics: dict[str, int]
                            ) -> dict[tuple[str, int], int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        return {(t, p): (await consumer.committed(TopicPartition(t, p))) or 0
                for t, count in topics.items() for p in range(count)}
    finally:
        await consumer.stop()


async def test_sigterm_under_load_drains_commits_and_exits_zero(
    kafka_broker: EmbeddedBroker, prefix: str, tmp_path: Path, report: Report
) -> None:
    total = scaled(20_000, 100_000)
    bootstrap = kafka_broker.bootstrap
    group = f"membrane-{prefix}"
    partitions = await partition_counts(bootstrap, fleet.outboxes(prefix))
    relay = RelayProcess([fleet.write_rules(tmp_path, prefix)], bootstrap,
                         log=tmp_path / "relay.log", group_id=group, grace=GRACE,
                         extra_args=["--session-timeout", "2"])
    ledger = Ledger()
    try:
        relay.start()
        await relay.wait_ready_async()
        async with OutputReader(bootstrap, ledger, inboxes=fleet.inboxes(prefix),
                                quarantine=fleet.quarantine(prefix)) as reader, \
                NumberedProducer(bootstrap, ledger) as producer:
            writing = asyncio.create_task(fleet.stream(producer, reader, prefix, range(total)))
            assert await reader.wait(lambda: reader.records >= total // 3, 120)
            asked = time.monotonic()
            code = await relay.terminate_async(GRACE + SHUTDOWN_SLACK + 30)
            took = time.monotonic() - asked
            # The writers go on until they are well ahead of the recipients, then wait.
            await reader.settle(quiet=2.0)
            finished = {seq for seq in producer.where if ledger.seen(seq)}
            offsets = await committed_offsets(bootstrap, group, partitions)
            before_restart = ledger.reconcile()

            relay.start()
            await writing
            complete = await reader.wait_complete(180)
            await reader.settle()
        result = ledger.reconcile()
    finally:
        relay.kill()
    # Per partition: the inputs the first relay finished, by offset.
    done_offsets: dict[tuple[str, int], list[int]] = defaultdict(list)
    for seq in finished:
        topic, partition, offset = producer.where[seq]
        done_offsets[(topic, partition)].append(offset)
    misplaced = {}
    for key, committed in offsets.items():
        done = sorted(done_offsets[key])
        if done != list(range(committed)):
            misplaced[key] = (committed, len(done), done[-1] if done else None)
    report("SIGTERM under load, then restart", result, grace=GRACE,
           exit_code=code, stop_seconds=round(took, 2),
           finished_before_stop=len(finished),
           committed=sum(offsets.values()))
    assert code == 0, relay.log_text()[-3000:]
    assert took < GRACE + SHUTDOWN_SLACK
    assert "all input committed" in relay.log_text()
    assert before_restart.duplicates == 0 and before_restart.conflicts == 0
    assert 0 < len(finished) < total  # the writers were still writing when it stopped
    assert misplaced == {}, misplaced
    assert complete, f"missing e.g. {ledger.missing()}"
    assert result.lost == 0 and result.duplicates == 0 and result.unexpected == 0
    assert result.delivered + result.quarantined == total
