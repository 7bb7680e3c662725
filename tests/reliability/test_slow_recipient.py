"""A recipient that stops reading: the relay's memory stays flat, the others are served,
and the lagging recipient gets everything when it comes back.

On Kafka the messages for a recipient that does not read wait in its inbox
topic, on the broker; the relay holds nothing for it. The test proves that
with counts: while one recipient reads nothing, every other recipient gets
all its messages, and the relay's resident memory does not grow with the
backlog (it is measured after one backlog and again after three times as
much). Then the lagging recipient starts reading and gets all of its
messages, in full, with no duplicates.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bus.embedded import EmbeddedBroker
from bus.reliability import Ledger, scaled
from bus.reliability.process import RelayProcess
from bus.reliability.traffic import NumberedProducer, OutputReader, partition_counts

from . import fleet
from .conftest import Report

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

LAGGING = fleet.agent(1)
MAX_GROWTH_BYTES = 64 * 1024 * 1024  # RSS growth allowed while the backlog triples


def for_lagging(seq: int) -> bool:
    """Input ``seq`` is delivered to the lagging recipient (a0 → a1, not a refused skip)."""
    return seq % fleet.AGENTS == 0 and seq % fleet.REFUSED_EVERY != 0


async def write(producer: NumberedProducer, prefix: str, numbers: range) -> None:
    for seq in numbers:
        topic, headers = fleet.message(prefix, seq)
        await producer.send(topic, seq, headers=headers)
    await producer.flush()


async def test_a_recipient_that_stops_reading(
    kafka_broker: EmbeddedBroker, prefix: str, tmp_path: Path, report: Report
) -> None:
    first = scaled(10_000, 50_000)
    total = 3 * first
    bootstrap = kafka_broker.bootstrap
    await partition_counts(bootstrap, fleet.outboxes(prefix))
    lagging_inbox = f"{prefix}.{LAGGING}.in"
    others = {t: r for t, r in fleet.inboxes(prefix).items() if t != lagging_inbox}
    relay = RelayProcess([fleet.write_rules(tmp_path, prefix)], bootstrap,
                         log=tmp_path / "relay.log", group_id=f"membrane-{prefix}",
                         extra_args=["--session-timeout", "2"])
    ledger = Ledger()

    def others_done(written: int) -> bool:
        waiting = sum(1 for seq in range(written) if for_lagging(seq))
        return ledger.inputs == written and ledger.outstanding == waiting

    try:
        relay.start()
        await relay.wait_ready_async()
        async with OutputReader(bootstrap, ledger, inboxes=others,
                                quarantine=fleet.quarantine(prefix)) as reader, \
                NumberedProducer(bootstrap, ledger) as producer:
            await write(producer, prefix, range(first))
            assert await reader.wait(lambda: others_done(first), 120), ledger.reconcile()
            rss_first = relay.rss_bytes()
            await write(producer, prefix, range(first, total))
            assert await reader.wait(lambda: others_done(total), 180), ledger.reconcile()
            rss_all = relay.rss_bytes()
            backlog = ledger.outstanding
            lagging_seen = sum(ledger.seen(seq) for seq in range(total) if for_lagging(seq))
            # The lagging recipient comes back.
            async with OutputReader(bootstrap, ledger, inboxes={lagging_inbox: LAGGING},
                                    quarantine=f"{prefix}.unused") as late:
                recovered = await late.wait_complete(180)
                await asyncio.gather(reader.settle(), late.settle())
        result = ledger.reconcile()
        peak = relay.peak_rss_bytes()
    finally:
        relay.kill()
    report("a recipient stops reading, then returns", result, backlog=backlog,
           rss_after_first_backlog=rss_first, rss_after_triple_backlog=rss_all,
           peak_rss=peak)
    assert lagging_seen == 0  # it really read nothing while the others were served
    assert backlog == sum(1 for seq in range(total) if for_lagging(seq)) > first // 5
    assert rss_all - rss_first < MAX_GROWTH_BYTES, (rss_first, rss_all)
    assert recovered, f"missing e.g. {ledger.missing()}"
    assert result.lost == 0 and result.duplicates == 0 and result.unexpected == 0
    assert result.delivered + result.quarantined == total
