"""SIGKILL the relay at random points of a stream, restart it, count every message.

The relay (``membrane run``, a child process) is killed with SIGKILL several
times while agents keep writing; each time it is started again at once and
resumes from the last committed offsets. Inputs read since the last commit
are read again; their outputs already in an inbox are recognised by the
dedupe window (refilled from the inboxes' tails on start) and not written
twice. The ledger then proves input = delivered + quarantined, nothing
lost, and counts the duplicates that still reached a recipient; the
documented bound is the inputs in flight at each kill (``max_in_flight``
per kill), and with the tail-refilled window the expected count is zero.
"""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path

import pytest

from bus.embedded import EmbeddedBroker
from bus.relay import RelaySettings
from bus.reliability import Ledger, scaled
from bus.reliability.process import RelayProcess
from bus.reliability.traffic import NumberedProducer, OutputReader, partition_counts

from . import fleet
from .conftest import Report

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

MIN_PROGRESS = 1_000  # outputs each incarnation relays before it is killed


def kill_point(rng: random.Random, seen: int, total: int, kills_left: int) -> int:
    """Outputs seen at which to kill next: ``MIN_PROGRESS`` more, then a random share of
    what is left before the writers' last window, so they are usually still writing."""
    room = max(1, (total - fleet.AHEAD - seen) // kills_left)
    return min(seen + MIN_PROGRESS + rng.randrange(room), total - 1)


def dedupe_removed(relay: RelayProcess) -> int:
    """Duplicates this incarnation's dedupe window caught so far (0 if it does not answer)."""
    try:
        return int(relay.sample("membrane_duplicates_removed_total"))
    except OSError:
        return 0


async def test_sigkill_during_a_stream_loses_nothing(
    broker: EmbeddedBroker, prefix: str, tmp_path: Path, report: Report
) -> None:
    total = scaled(24_000, 100_000)
    kills = scaled(3, 10)
    seed = int(os.environ.get("MEMBRANE_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    await partition_counts(broker.bootstrap, [fleet.outbox(prefix, i)
                                              for i in range(fleet.AGENTS)])
    rules = fleet.write_rules(tmp_path, prefix)
    relay = RelayProcess([rules], broker.bootstrap, log=tmp_path / "relay.log", grace=5,
                         extra_args=["--session-timeout", "3"])
    ledger = Ledger()
    removed = 0
    killed_at: list[tuple[int, int]] = []  # (inputs written, outputs seen)
    reader = OutputReader(broker.bootstrap, ledger, inboxes=fleet.inboxes(prefix),
                          quarantine=fleet.quarantine(prefix))
    try:
        relay.start()
        await relay.wait_ready_async()
        async with reader, NumberedProducer(broker.bootstrap, ledger) as producer:
            writing = asyncio.create_task(fleet.stream(producer, reader, prefix, range(total)))
            for done in range(kills):
                # Each incarnation joins, relays some of the stream, and dies mid-way.
                await relay.wait_ready_async()
                target = kill_point(rng, reader.records, total, kills - done)
                reached = await reader.wait(lambda t=target: reader.records >= t, 240)
                assert reached, f"stalled at {reader.records} outputs (seed {seed})"
                await asyncio.sleep(rng.uniform(0.0, 0.2))
                removed += dedupe_removed(relay)
                relay.kill()
                killed_at.append((producer.sent, reader.records))
                relay.start()
            await writing
            complete = await reader.wait_complete(300)
            await reader.settle()
            removed += dedupe_removed(relay)
            result = ledger.reconcile()
        assert complete, (f"{ledger.outstanding} outputs missing, e.g. inputs "
                          f"{ledger.missing()} (seed {seed}); {result.summary()}")
    finally:
        relay.kill()
    bound = kills * RelaySettings().max_in_flight
    report("relay SIGKILL and restart", result, kills=kills, seed=seed, bound=bound,
           dedupe_removed=removed, killed_at=killed_at)
    assert producer.failed == 0
    assert result.inputs == total
    assert result.lost == 0 and result.conflicts == 0 and result.unexpected == 0, result.summary()
    assert result.delivered + result.quarantined == total
    assert result.quarantined == len(range(0, total, fleet.REFUSED_EVERY))
    assert set(result.reasons) == {"default-deny"}
    assert result.duplicates <= bound
    assert relay.starts == kills + 1
    assert all(seen < total for _, seen in killed_at)  # every kill left inputs unrelayed
