"""Rules hot-reloaded 1,000 times while traffic flows, valid and invalid files alternating.

Two valid rules files differ in one decision: version A also lets every agent
skip one place in the ring (``a0 → a2``), version B does not (the default
denies it). Every tenth message is such a skip. Between the valid files come
invalid ones of several kinds (YAML and TOML syntax errors, wrong types,
unknown references, duplicate keys); each must be refused with the old rules
kept in force.

Proved for every output: it names the policy version that decided it
(``membrane-policy``), that version is one of the two valid ones, and the
decision is the one *that* version makes (a skip is delivered under A and
quarantined with ``default-deny`` under B) — so no message was decided by a
half-loaded policy or a mix of two. And the ledger: nothing lost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bus import headers as h
from bus.embedded import EmbeddedBroker
from bus.metrics import Metrics
from bus.policy import PolicyHolder, load_policy
from bus.relay import Relay, RelaySettings
from bus.reliability import Ledger, scaled
from bus.reliability.traffic import NumberedProducer, OutputReader, partition_counts

from . import fleet
from .conftest import Report

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

RELOADS = 1_000
SKIPS = "\n".join(f"  - {{name: skip-{i}, from: {fleet.agent(i)}, to: {fleet.agent(i + 2)}}}"
                  for i in range(fleet.AGENTS))

INVALID = {
    "syntax.yaml": "version: 1\nagents: {a0: {}, a1: [unclosed\n",
    "types.yaml": "version: 1\nagents: 5\n",
    "unknown.yaml": "version: 1\nagents: {a0: {}}\nedges:\n  - {name: x, from: a0, to: nobody}\n",
    "duplicate.yaml": "version: 1\nagents: {a0: {}}\nagents: {a1: {}}\n",
    "syntax.toml": "version = 1\n[agents\n",
    "version.yaml": "version: 2\n",
    "empty.yaml": "",
}


def rules_files(directory: Path, prefix: str) -> tuple[Path, Path, list[Path]]:
    with_skips = fleet.write_rules(directory, prefix, "a.yaml", extra=SKIPS + "\n")
    without = fleet.write_rules(directory, prefix, "b.yaml")
    invalid = []
    for name, text in INVALID.items():
        path = directory / name
        path.write_text(text)
        invalid.append(path)
    return with_skips, without, invalid


async def test_a_thousand_reloads_under_traffic(
    kafka_broker: EmbeddedBroker, prefix: str, tmp_path: Path, report: Report
) -> None:
    total = scaled(20_000, 100_000)
    per_reload = total // RELOADS
    path_a, path_b, invalid = rules_files(tmp_path, prefix)
    version_a, version_b = load_policy(path_a).version, load_policy(path_b).version
    assert version_a != version_b
    holder = PolicyHolder(load_policy(path_a))
    decisions: dict[str, dict[str, int]] = {version_a: {}, version_b: {}}
    wrong: list[str] = []

    def check(topic: str, seq: int, record: Any) -> None:
        version = dict(record.headers).get(h.POLICY, b"").decode()
        if version not in decisions:
            wrong.append(f"input {seq} decided by unknown policy {version!r}")
            return
        if seq % fleet.REFUSED_EVERY:
            return  # ring messages are delivered under both versions
        delivered = topic != fleet.quarantine(prefix)
        outcome = "delivered" if delivered else "quarantined"
        decisions[version][outcome] = decisions[version].get(outcome, 0) + 1
        if delivered != (version == version_a):
            wrong.append(f"input {seq}: {outcome} under {version}")

    ledger = Ledger()
    await partition_counts(kafka_broker.bootstrap, fleet.outboxes(prefix))
    relay = Relay(holder, bootstrap=kafka_broker.bootstrap, metrics=Metrics(),
                  settings=RelaySettings(group_id=f"membrane-{prefix}", session_timeout=2.0,
                                         heartbeat_interval=0.5))
    refused = kept_old = 0
    await relay.start()
    try:
        await relay.wait_ready(60)
        async with OutputReader(kafka_broker.bootstrap, ledger, inboxes=fleet.inboxes(prefix),
                                quarantine=fleet.quarantine(prefix), on_record=check) as reader, \
                NumberedProducer(kafka_broker.bootstrap, ledger) as producer:
            seq = 0
            in_force = version_a
            for i in range(RELOADS):
                if i % 2 == 0:
                    path, expected = (path_b, version_b) if i % 4 == 0 else (path_a, version_a)
                    result = holder.reload(path)
                    assert result.ok and result.version == expected, result
                    in_force = expected
                else:
                    result = holder.reload(invalid[(i // 2) % len(invalid)])
                    refused += not result.ok
                    kept_old += holder.current.version == in_force
                for _ in range(per_reload):
                    topic, headers = fleet.message(prefix, seq)
                    await producer.send(topic, seq, headers=headers)
                    seq += 1
                if i % 10 == 9:
                    await producer.flush()  # lets the relay decide while reloads go on
            await producer.flush()
            complete = await reader.wait_complete(180)
            await reader.settle()
        result_counts = ledger.reconcile()
    finally:
        await relay.stop(10)
    report("rules hot-reloaded 1,000 times, valid and invalid alternating", result_counts,
           reloads=RELOADS, refused=refused,
           skips_under_a=decisions[version_a], skips_under_b=decisions[version_b])
    assert complete, f"missing e.g. {ledger.missing()}; {result_counts.summary()}"
    assert refused == RELOADS // 2 and kept_old == RELOADS // 2
    assert wrong == [], wrong[:10]
    assert result_counts.inputs == total
    assert result_counts.lost == 0 and result_counts.unexpected == 0
    assert result_counts.conflicts == 0
    assert result_counts.delivered + result_counts.quarantined == total
    assert set(result_counts.versions) <= {version_a, version_b}
    # Both versions really decided skips, both ways: the check above could fail.
    assert decisions[version_a].get("delivered", 0) > 0
    assert decisions[version_b].get("quarantined", 0) > 0
