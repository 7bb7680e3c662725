"""membrane replay on the real broker: quarantined messages meet the new policy, once each."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus import headers as h
from bus.cli.replay import parse_since
from bus.embedded import EmbeddedBroker
from bus.engine.engine import Engine
from bus.errors import ConfigError
from bus.metrics import Metrics
from bus.policy import PolicyHolder, load_policy
from bus.relay.replay import Replayer, ReplayFilter
from tests.relay.conftest import (
    header,
    produce,
    producer_for,
    read_topics,
    running_relay,
    write_rules,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

STRICT = """
agents: {alice: {}, bob: {}, carol: {}}
edges:
  - {name: alice-to-bob, from: alice, to: bob}
"""
RELAXED = STRICT + "  - {name: alice-tasks-carol, from: alice, to: carol, kinds: [task]}\n"


async def replay(broker: EmbeddedBroker, rules: Path, prefix: str, **which: object):  # type: ignore[no-untyped-def]
    engine = Engine(PolicyHolder(load_policy(rules)), metrics=Metrics())
    replayer = Replayer(engine, {"bootstrap_servers": broker.bootstrap},
                        group_id=f"replay-{prefix}")
    return await replayer.run(ReplayFilter(**which))  # type: ignore[arg-type]


async def test_replay_delivers_what_the_new_rules_allow_and_requarantines_the_rest(
        kafka_broker: EmbeddedBroker, tmp_path: Path, prefix: str) -> None:
    rules = write_rules(tmp_path / "rules.yaml", prefix, STRICT)
    holder = PolicyHolder(load_policy(rules))
    quarantine, carol = f"{prefix}.quarantine", f"{prefix}.carol.inbox"
    async with running_relay(holder, kafka_broker, prefix), producer_for(kafka_broker) as p:
        await produce(p, f"{prefix}.alice.outbox", [
            ([(h.TO, b"carol"), (h.ID, f"m-{n}".encode()),
              (h.KIND, b"task" if n % 2 == 0 else b"chat")], f"{n}".encode())
            for n in range(10)
        ])
        await read_topics(kafka_broker, [quarantine], lambda r: len(r) >= 10)

    write_rules(rules, prefix, RELAXED)
    first = await replay(kafka_broker, rules, prefix)
    second = await replay(kafka_broker, rules, prefix)
    third = await replay(kafka_broker, rules, prefix, max_replays=2)

    delivered = await read_topics(kafka_broker, [carol], lambda r: len(r) >= 5)
    everything = await read_topics(kafka_broker, [quarantine], lambda r: len(r) >= 20)
    assert sorted(header(r, h.ID) or "" for r in delivered) == [f"m-{n}" for n in (0, 2, 4, 6, 8)]
    assert all(header(r, h.FROM) == "alice" and header(r, h.REPLAYED) == "1" for r in delivered)
    assert [r.value for r in delivered] == [b"0", b"2", b"4", b"6", b"8"]  # order kept
    assert (first.replayed, first.forwarded, dict(first.quarantined)) == (10, 5, {"kind": 5})
    # The second pass sees only the five copies the first one wrote back.
    assert (second.read, second.replayed, dict(second.quarantined)) == (5, 5, {"kind": 5})
    assert (third.replayed, dict(third.skipped)) == (0, {"replayed too often": 5})
    again = [r for r in everything if header(r, h.REPLAYED) == "2"]
    assert sorted(header(r, h.ID) or "" for r in again) == [f"m-{n}" for n in (1, 3, 5, 7, 9)]
    assert all(header(r, h.ORIGIN_TOPIC) == quarantine for r in again)


async def test_replay_filters_by_reason_and_limit(
        kafka_broker: EmbeddedBroker, tmp_path: Path, prefix: str) -> None:
    rules = write_rules(tmp_path / "rules.yaml", prefix, STRICT)
    holder = PolicyHolder(load_policy(rules))
    async with running_relay(holder, kafka_broker, prefix), producer_for(kafka_broker) as p:
        await produce(p, f"{prefix}.alice.outbox",
                      [([(h.TO, b"carol")], b"a"), ([(h.TO, b"nobody")], b"b"),
                       ([(h.TO, b"carol")], b"c"), ([(h.HOPS, b"x")], b"d")])
        await read_topics(kafka_broker, [f"{prefix}.quarantine"], lambda r: len(r) >= 4)

    dry = Replayer(Engine(PolicyHolder(load_policy(rules)), metrics=Metrics()),
                   {"bootstrap_servers": kafka_broker.bootstrap}, group_id=f"dry-{prefix}",
                   dry_run=True)
    everything = await dry.run(ReplayFilter())
    assert everything.skipped["undecodable"] == 1
    limited = await replay(kafka_broker, rules, prefix, reasons=frozenset({"default-deny"}),
                           limit=1)
    assert (limited.replayed, dict(limited.quarantined)) == (1, {"default-deny": 1})


def test_since_accepts_durations_and_iso_times() -> None:
    assert parse_since("30m", now=10_000.0) == 10_000.0 - 1800
    assert parse_since("2h", now=10_000.0) == 10_000.0 - 7200
    assert parse_since("1970-01-01T00:01:00+00:00") == 60.0
    with pytest.raises(ConfigError, match="--since 'yesterday'"):
        parse_since("yesterday")
