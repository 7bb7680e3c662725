"""Sender identity cannot be forged on the Kafka relay: every ``membrane-*`` header a
client sets is dropped on ingress, and membrane stamps its own.

The sender is the agent whose outbox the record came from. Checked on every
kind of output: a forward, a quarantine copy of a refused recipient, a
quarantine copy of undecodable input, a fan-out, and a message another
agent wrote into its own outbox naming someone else. (MQTT ingress is
covered by tests/mqtt/test_bridge.py; writing around membrane is closed by
the ACLs ``membrane acls`` generates, tests/mqtt/test_acl_enforced.py.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bus import headers as h
from bus.embedded import EmbeddedBroker
from bus.policy import PolicyHolder, load_policy
from bus.reliability import Ledger
from bus.reliability.ledger import LEDGER_HEADER
from bus.reliability.traffic import NumberedProducer, OutputReader
from tests.relay.conftest import running_relay, write_rules

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

RULES = """
agents: {alice: {}, bob: {}, carol: {}}
edges:
  - {name: alice-to-bob, from: alice, to: bob}
  - {name: bob-to-alice, from: bob, to: alice}
"""
# Everything membrane stamps or adds to quarantine copies, set by the client.
FORGED = [
    (h.FROM, b"mallory"), (h.POLICY, b"forged-policy"), (h.VERDICT, b"allow"),
    (h.REASON, b"forged-reason"), (h.RULE, b"forged-rule"), (h.FILTER, b"forged-filter"),
    (h.DETAIL, b"forged-detail"), (h.RECIPIENT, b"forged-recipient"),
    (h.ORIGIN_TOPIC, b"forged-topic"), (h.ORIGIN_PARTITION, b"99"),
    (h.ORIGIN_OFFSET, b"99"), (h.REPLAYED, b"9"), ("membrane-anything", b"forged"),
]
FORGED_VALUES = {value for _, value in FORGED}
TRACE = ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")


def upper_case(headers: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    return [(name.upper(), value) for name, value in headers]


# (input number, sender, headers, what membrane must produce)
MESSAGES: list[tuple[int, str, list[tuple[str, bytes]], set[str]]] = [
    (0, "alice", [(h.TO, b"bob"), *FORGED, TRACE], {"bob"}),
    (1, "alice", [(h.TO, b"carol"), *FORGED], {"quarantine:carol"}),
    (2, "alice", [(h.TO, b"bob"), (h.HOPS, b"lots"), *FORGED], {"quarantine:"}),
    (3, "alice", [*FORGED], {"bob"}),  # no recipients: fan-out to permitted neighbours
    (4, "bob", [(h.TO, b"alice"), (h.FROM, b"alice")], {"alice"}),
    (5, "alice", [(h.TO, b"bob"), *upper_case(FORGED)], {"bob"}),
    (6, "alice", [(h.TO, b"bob"), ("Membrane-From", b"mallory")], {"bob"}),
]


async def test_client_membrane_headers_never_survive_ingress(
    kafka_broker: EmbeddedBroker, tmp_path: Path, prefix: str
) -> None:
    holder = PolicyHolder(load_policy(write_rules(tmp_path / "rules.yaml", prefix, RULES)))
    version = holder.current.version
    outputs: dict[int, list[tuple[str, list[tuple[str, bytes]]]]] = {}

    def collect(topic: str, seq: int, record: Any) -> None:
        headers = list(record.headers)
        if topic.endswith(".quarantine"):
            where = "quarantine:" + dict(headers).get(h.RECIPIENT, b"").decode()
        else:
            where = topic.split(".")[-2]
        outputs.setdefault(seq, []).append((where, headers))

    ledger = Ledger()
    inboxes = {f"{prefix}.{a}.inbox": a for a in ("alice", "bob", "carol")}
    async with running_relay(holder, kafka_broker, prefix), \
            OutputReader(kafka_broker.bootstrap, ledger, inboxes=inboxes,
                         quarantine=f"{prefix}.quarantine", on_record=collect) as reader, \
            NumberedProducer(kafka_broker.bootstrap, ledger) as producer:
        for seq, sender, headers, expect in MESSAGES:
            await producer.send(f"{prefix}.{sender}.outbox", seq, headers=headers,
                                outputs=len(expect))
        await producer.flush()
        assert await reader.wait_complete(60), ledger.reconcile().summary()
        await reader.settle()
    for seq, sender, _, expect in MESSAGES:
        assert {where for where, _ in outputs[seq]} == expect, seq
        for where, headers in outputs[seq]:
            owned = [(n, v) for n, v in headers if n.lower().startswith(h.PREFIX)]
            assert [v for n, v in owned if n.lower() == h.FROM] == [sender.encode()], seq
            assert not FORGED_VALUES & {v for _, v in owned}, (seq, owned)
            assert all(n == n.lower() for n, _ in owned), (seq, owned)  # membrane's spelling
            assert dict(owned)[h.POLICY] == version.encode()
            if where.startswith("quarantine:"):
                assert dict(owned)[h.ORIGIN_TOPIC] == f"{prefix}.{sender}.outbox".encode()
                assert dict(owned)[h.VERDICT] in (b"deny", b"invalid")
            else:
                assert h.VERDICT not in dict(owned) and h.REASON not in dict(owned)
            assert (LEDGER_HEADER, str(seq).encode()) in headers  # others pass through
    assert TRACE in outputs[0][0][1]
