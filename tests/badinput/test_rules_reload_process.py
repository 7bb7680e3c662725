"""Hostile rules files handed to a running ``membrane run`` (SIGHUP): each is refused,
the process keeps running and keeps deciding with the rules it had, and a valid
file afterwards is taken.

After every refused file a good message must be delivered stamped with the
old policy version; at the end a valid, changed file must be in force.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from bus import headers as h
from bus.embedded import EmbeddedBroker
from bus.policy import load_policy
from bus.reliability import Ledger
from bus.reliability.process import RelayProcess
from bus.reliability.traffic import NumberedProducer, OutputReader, partition_counts
from tests.relay.conftest import write_rules

from .hostile import HOSTILE

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

RULES = """
agents: {alice: {}, bob: {}}
edges:
  - {name: alice-to-bob, from: alice, to: bob}
"""
CHANGED = RULES + "  - {name: bob-to-alice, from: bob, to: alice}\n"
SENT_OVER_SIGHUP = [c for c in HOSTILE if c.name.endswith(".yaml")]


async def test_hostile_files_sent_to_a_running_relay_are_refused_and_it_keeps_going(
    kafka_broker: EmbeddedBroker, tmp_path: Path, prefix: str
) -> None:
    bootstrap = kafka_broker.bootstrap
    path = write_rules(tmp_path / "rules.yaml", prefix, RULES)
    old_version = load_policy(path).version
    await partition_counts(bootstrap, [f"{prefix}.alice.outbox", f"{prefix}.bob.outbox"])
    relay = RelayProcess([path], bootstrap, log=tmp_path / "relay.log",
                         group_id=f"membrane-{prefix}", extra_args=["--session-timeout", "2"])
    ledger = Ledger()
    versions: dict[int, str] = {}
    inboxes = {f"{prefix}.bob.inbox": "bob", f"{prefix}.alice.inbox": "alice"}

    def stamp(topic: str, seq: int, record: object) -> None:
        versions[seq] = dict(record.headers)[h.POLICY].decode()  # type: ignore[attr-defined]

    try:
        relay.start()
        await relay.wait_ready_async()
        async with OutputReader(bootstrap, ledger, inboxes=inboxes,
                                quarantine=f"{prefix}.quarantine", on_record=stamp) as reader, \
                NumberedProducer(bootstrap, ledger) as producer:
            for seq, case in enumerate(SENT_OVER_SIGHUP):
                content = case.make()
                if isinstance(content, bytes):
                    path.write_bytes(content)
                else:
                    path.write_text(content)
                relay.send_signal(signal.SIGHUP)
                failures = await wait_for_sample(relay, "failure", seq + 1)
                assert failures >= seq + 1, f"{case.name}: no failed reload counted"
                await producer.send(f"{prefix}.alice.outbox", seq, headers=[(h.TO, b"bob")])
                await producer.flush()
                assert await reader.wait(lambda s=seq: ledger.seen(s) > 0, 60), case.name
                assert relay.alive, case.name
            write_rules(path, prefix, CHANGED)
            relay.send_signal(signal.SIGHUP)
            assert await wait_for_sample(relay, "success", 1) >= 1
            last = len(SENT_OVER_SIGHUP)
            await producer.send(f"{prefix}.bob.outbox", last, headers=[(h.TO, b"alice")])
            await producer.flush()
            assert await reader.wait_complete(60), ledger.reconcile().summary()
        log = relay.log_text()
    finally:
        relay.kill()
    new_version = load_policy(path).version
    assert [versions[s] for s in range(len(SENT_OVER_SIGHUP))] == \
        [old_version] * len(SENT_OVER_SIGHUP)
    assert versions[len(SENT_OVER_SIGHUP)] == new_version != old_version
    assert "Traceback" not in log
    result = ledger.reconcile()
    assert result.lost == 0 and result.duplicates == 0 and result.quarantined == 0


async def wait_for_sample(relay: RelayProcess, result: str, at_least: int) -> float:
    value = 0.0
    for _ in range(300):
        value = await asyncio.to_thread(relay.sample, "membrane_policy_reloads_total",
                                        {"result": result})
        if value >= at_least:
            break
        await asyncio.sleep(0.1)
    return value
