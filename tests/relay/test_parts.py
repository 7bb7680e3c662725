"""The relay's parts in isolation: assignment, dedupe keys, quarantined copies, HTTP, reload."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata

from bus import headers as h
from bus.engine.dedupe import output_key
from bus.envelope import decode_envelope
from bus.errors import ConfigError
from bus.http import MetricsServer, parse_address
from bus.metrics import Metrics
from bus.policy import PolicyHolder, load_policy
from bus.relay.assignor import AffinityAssignor
from bus.relay.kafka_options import client_options
from bus.relay.quarantined import QuarantinedRecord
from bus.relay.records import derived_id, envelope_of
from bus.relay.reloader import RulesReloader
from bus.relay.seeder import key_of_record
from bus.relay.settings import RelaySettings
from bus.rules.transports import KafkaSettings


class Cluster:
    def __init__(self, partitions: dict[str, int]) -> None:
        self._partitions = partitions

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        count = self._partitions.get(topic)
        return set(range(count)) if count else None


def assign(key: dict[str, str], partitions: dict[str, int], members: list[str]
           ) -> dict[str, dict[str, list[int]]]:
    subscription = ConsumerProtocolMemberMetadata(0, sorted(partitions), b"")
    result = AffinityAssignor(key.__getitem__).assign(
        Cluster(partitions), {m: subscription for m in members})  # type: ignore[arg-type]
    return {m: dict(a.assignment) for m, a in result.items()}


def test_outboxes_are_assigned_whole_and_by_affinity() -> None:
    topics = {f"{a}.outbox": 4 for a in ("a1", "a2", "b1", "b2", "c1")}
    group = {"a1.outbox": "A", "a2.outbox": "A", "b1.outbox": "B", "b2.outbox": "B",
             "c1.outbox": "C"}
    plan = assign(group, topics, ["m1", "m2"])

    owners = {t: m for m, assigned in plan.items() for t in assigned}
    assert set(owners) == set(topics)
    assert all(parts == [0, 1, 2, 3] for a in plan.values() for parts in a.values())
    assert owners["a1.outbox"] == owners["a2.outbox"]
    assert owners["b1.outbox"] == owners["b2.outbox"]
    loads = sorted(sum(len(p) for p in a.values()) for a in plan.values())
    assert loads == [8, 12]  # groups of 8, 8 and 4 partitions over two members


def test_assignment_is_deterministic_whatever_the_member_order() -> None:
    topics = {f"t{n}": 2 for n in range(7)}
    key = {t: t for t in topics}
    assert assign(key, topics, ["x", "y", "z"]) == assign(key, topics, ["z", "x", "y"])


def test_the_seeded_key_of_a_written_record_matches_the_sinks_key() -> None:
    forwarded = [(h.FROM, b"alice"), (h.ID, b"m1"), (h.HOPS, b"1")]
    refused = [*forwarded, (h.VERDICT, b"deny"), (h.RECIPIENT, b"bob")]
    assert key_of_record("inbox", forwarded) == output_key("inbox", "alice", "m1", "")
    assert key_of_record("q", refused) == output_key("q", "alice", "m1", "bob")
    assert key_of_record("inbox", [(h.ID, b"m1")]) is None  # not written by membrane


def test_records_without_an_id_get_a_stable_one() -> None:
    def decoded(offset: int, timestamp: int) -> str:
        return envelope_of(sender="alice", topic="o", partition=1, offset=offset, headers=[],
                           key=None, value=b"x", timestamp_ms=timestamp).msg_id

    assert decoded(5, 1000) == decoded(5, 1000) == derived_id("o", 1, 5, 1000)
    assert decoded(5, 1000) != decoded(6, 1000) != decoded(6, 2000)
    given = envelope_of(sender="alice", topic="o", partition=1, offset=5, headers=[(h.ID, b"i")],
                        key=None, value=b"x", timestamp_ms=0)
    assert given.msg_id == "i"


def test_a_quarantined_copy_reads_back_as_the_original_envelope() -> None:
    env = decode_envelope(sender="alice", key=b"k", payload=b"p", headers=[
        (h.TO, b"bob,carol"), (h.KIND, b"task"), (h.HOPS, b"2"), (h.PATH, b"x,y"),
        (h.ID, b"m1"), ("traceparent", b"00-1")])
    stamped = [*env.egress_headers("v1"), (h.VERDICT, b"deny"), (h.REASON, b"kind"),
               (h.RECIPIENT, b"carol"), (h.REPLAYED, b"2")]

    record = QuarantinedRecord(stamped)
    again = record.original_envelope(b"p", b"k", 0.0)

    assert (record.reason, record.verdict, record.replays) == ("kind", "deny", 2)
    assert (again.sender, again.msg_id, again.recipients) == ("alice", "m1", ("carol",))
    assert (again.kind, again.hops, again.path) == ("task", 2, ("x", "y"))
    assert again.extra_headers == (("traceparent", b"00-1"),)
    assert again.egress_headers("v1")[:4] == env.egress_headers("v1")[:4]


async def get(server: MetricsServer, request: str) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(request.encode())
    await writer.drain()
    response = (await reader.read()).decode()
    writer.close()
    head, _, body = response.partition("\r\n\r\n")
    return int(head.split()[1]), body


async def test_metrics_and_probes_are_served() -> None:
    metrics = Metrics()
    metrics.dedupe_dropped.inc(3)
    ready = False
    async with MetricsServer(metrics, "127.0.0.1", 0, ready=lambda: ready) as server:
        status, body = await get(server, "GET /metrics HTTP/1.1\r\n\r\n")
        assert status == 200
        assert "membrane_duplicates_removed_total 3.0" in body
        assert "membrane_build_info" in body
        assert (await get(server, "GET /healthz HTTP/1.1\r\n\r\n"))[0] == 200
        assert (await get(server, "GET /readyz HTTP/1.1\r\n\r\n"))[0] == 503
        ready = True
        assert (await get(server, "GET /readyz HTTP/1.1\r\n\r\n"))[0] == 200
        assert (await get(server, "GET /nope HTTP/1.1\r\n\r\n"))[0] == 404
        assert (await get(server, "POST /metrics HTTP/1.1\r\n\r\n"))[0] == 405
        assert (await get(server, "garbage\r\n\r\n"))[0] == 400


def test_addresses_are_checked() -> None:
    assert parse_address("0.0.0.0:9464") == ("0.0.0.0", 9464)
    assert parse_address("[::1]:80") == ("::1", 80)
    with pytest.raises(ConfigError, match="HOST:PORT"):
        parse_address("9464")


def test_a_changed_file_is_reloaded_and_a_broken_one_is_not(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("version: 1\nagents: {a: {}}\n")
    holder = PolicyHolder(load_policy(path))
    metrics = Metrics()
    reloader = RulesReloader(holder, [path], metrics)
    first = holder.current.version

    assert reloader.check() is None  # unchanged
    path.write_text("version: 1\nagents: {a: {}, b: {}}\n")
    assert reloader.check() is True
    second = holder.current.version
    path.write_text("version: 1\nagents: [oops]\n")
    assert reloader.check() is False
    assert reloader.check() is None  # the same broken file is not retried

    assert first != second == holder.current.version
    sample = metrics.registry.get_sample_value
    assert sample("membrane_policy_reloads_total", {"result": "success"}) == 1
    assert sample("membrane_policy_reloads_total", {"result": "failure"}) == 1


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = KafkaSettings(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                             sasl_username="membrane", sasl_password_env="MEMBRANE_TEST_PW")
    monkeypatch.delenv("MEMBRANE_TEST_PW", raising=False)
    with pytest.raises(ConfigError, match="MEMBRANE_TEST_PW"):
        client_options(settings, "kafka:9092")
    monkeypatch.setenv("MEMBRANE_TEST_PW", "s3cret")
    options: dict[str, Any] = client_options(settings, "kafka:9092")
    assert options["sasl_plain_password"] == "s3cret"
    assert options["bootstrap_servers"] == "kafka:9092"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("max_in_flight", 0, "max_in_flight must be positive"),
    ("heartbeat_interval", 20.0, "heartbeat_interval must be shorter"),
    ("dedupe_seed_depth", -1, "must not be negative"),
])
def test_settings_are_validated(field: str, value: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RelaySettings(**{field: value})  # type: ignore[arg-type]
