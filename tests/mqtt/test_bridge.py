"""The MQTT bridge on a real Mosquitto: policy, identity, fan-out, quarantine."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bus import headers as h
from tests.mqtt.conftest import wait_until

if TYPE_CHECKING:
    from tests.mqtt.conftest import ConnectPeer, StartBridge

pytestmark = pytest.mark.e2e

RULES = """\
version: 1
groups:
  robots: {members: [alice, bob, carol, dave], transport: mqtt}
agents:
  kim: {transport: kafka}
edges:
  - {name: alice-to-team, from: alice, to: [bob, dave]}
  - {name: bob-replies, from: bob, to: alice}
"""
QUARANTINE = "membrane/quarantine"
PROTOCOLS = ["5", "3.1.1"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_allowed_message_is_delivered_with_stamped_headers(
    start_bridge: StartBridge, mqtt_peer: ConnectPeer, protocol: str
) -> None:
    running = await start_bridge(RULES, protocol=protocol)
    alice = await mqtt_peer("alice", protocol=protocol)
    bob = await mqtt_peer("bob", protocol=protocol)
    await alice.publish(
        "agents/alice/out", b"hello bob", {h.TO: "bob", h.KIND: "greeting", "traceparent": "00-1"}
    )
    [got] = await bob.take(1)
    assert got.topic == "agents/bob/in"
    assert got.payload == b"hello bob"
    assert got.headers[h.FROM] == "alice"
    assert got.headers[h.KIND] == "greeting"
    assert got.headers[h.HOPS] == "1"
    assert got.headers[h.PATH] == "alice"
    assert got.headers["traceparent"] == "00-1"
    assert got.headers[h.POLICY] == running.engine.policy.version
    await wait_until(lambda: running.bridge.acknowledged == 1)
    assert running.bridge.in_flight == 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_denied_message_is_quarantined_on_mqtt_with_its_reason(
    start_bridge: StartBridge, mqtt_peer: ConnectPeer, protocol: str
) -> None:
    await start_bridge(RULES, protocol=protocol)
    carol = await mqtt_peer("carol", protocol=protocol)
    bob = await mqtt_peer("bob", protocol=protocol)
    alice = await mqtt_peer("alice", protocol=protocol)
    quarantine = await mqtt_peer("q", protocol=protocol, listen=(QUARANTINE,))
    await carol.publish("agents/carol/out", b"let me in", {h.TO: "alice"})
    [copy] = await quarantine.take(1)
    assert copy.payload == b"let me in"
    assert copy.headers[h.VERDICT] == "deny"
    assert copy.headers[h.REASON] == "default-deny"
    assert copy.headers[h.RECIPIENT] == "alice"
    assert copy.headers[h.FROM] == "carol"
    # Nothing reached alice: bob's allowed reply, sent afterwards, is the first she gets.
    await bob.publish("agents/bob/out", b"reply", {h.TO: "alice"})
    [first] = await alice.take(1)
    assert (first.payload, first.headers[h.FROM]) == (b"reply", "bob")


async def test_sender_comes_from_the_topic_not_from_forged_headers(
    start_bridge: StartBridge, mqtt_peer: ConnectPeer
) -> None:
    await start_bridge(RULES)
    alice = await mqtt_peer("alice")
    carol = await mqtt_peer("carol")
    dave = await mqtt_peer("dave")
    quarantine = await mqtt_peer("q", listen=(QUARANTINE,))
    # carol claims to be alice (who may write to dave): still carol, still denied.
    await carol.publish(
        "agents/carol/out", b"forged", {h.FROM: "alice", h.TO: "dave", h.POLICY: "x"}
    )
    [copy] = await quarantine.take(1)
    assert copy.headers[h.FROM] == "carol"
    assert copy.headers[h.REASON] == "default-deny"
    # alice claims to be bob: delivered, but as alice, and the forged stamp is gone.
    await alice.publish("agents/alice/out", b"hi", {h.FROM: "bob", h.TO: "dave"})
    [got] = await dave.take(1)
    assert got.payload == b"hi"
    assert got.headers[h.FROM] == "alice"
    assert got.headers[h.POLICY] != "x"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_without_recipients_a_message_fans_out_to_permitted_neighbours(
    start_bridge: StartBridge, mqtt_peer: ConnectPeer, protocol: str
) -> None:
    running = await start_bridge(RULES, protocol=protocol)
    alice = await mqtt_peer("alice", protocol=protocol)
    bob = await mqtt_peer("bob", protocol=protocol)
    dave = await mqtt_peer("dave", protocol=protocol)
    await alice.publish("agents/alice/out", b"team update")
    [to_bob] = await bob.take(1)
    [to_dave] = await dave.take(1)
    assert to_bob.payload == to_dave.payload == b"team update"
    assert to_bob.headers[h.ID] == to_dave.headers[h.ID]
    # Exactly the two permitted neighbours: carol (no edge from alice) got no copy.
    forwarded = running.metrics.messages.labels("mqtt", "forwarded")._value.get()
    assert forwarded == 2


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "bad-envelope"),
        (b'{"payload": "x", "surprise": 1}', "bad-envelope"),
        (b'{"payload": "caf\xc3"}', "bad-utf8"),
        (b'{"payload": "' + b"x" * 2000 + b'"}', "too-large"),
        (b'{"headers": {"membrane-hops": "many"}, "payload": "x"}', "bad-hops"),
    ],
)
async def test_malformed_json_envelopes_are_quarantined_and_the_bridge_goes_on(
    start_bridge: StartBridge, mqtt_peer: ConnectPeer, payload: bytes, reason: str
) -> None:
    await start_bridge(RULES, protocol="3.1.1", max_payload=1000)
    alice = await mqtt_peer("alice", protocol="3.1.1")
    bob = await mqtt_peer("bob", protocol="3.1.1")
    quarantine = await mqtt_peer("q", protocol="3.1.1", listen=(QUARANTINE,))
    await alice.publish("agents/alice/out", payload, raw=True)
    [copy] = await quarantine.take(1)
    assert copy.headers[h.VERDICT] == "invalid"
    assert copy.headers[h.REASON] == reason
    assert copy.headers[h.FROM] == "alice"
    assert copy.headers[h.ORIGIN_TOPIC] == "agents/alice/out"
    assert copy.payload == payload  # the evidence, as it was published
    await alice.publish("agents/alice/out", b"still here", {h.TO: "bob"})
    [got] = await bob.take(1)
    assert got.payload == b"still here"


async def test_malformed_mqtt5_input_is_quarantined_with_reasons(
    start_bridge: StartBridge, mqtt_peer: ConnectPeer
) -> None:
    await start_bridge(RULES, max_payload=1000)
    alice = await mqtt_peer("alice")
    bob = await mqtt_peer("bob")
    quarantine = await mqtt_peer("q", listen=(QUARANTINE,))
    declared_text = Properties(PacketTypes.PUBLISH)
    declared_text.PayloadFormatIndicator = 1
    await alice.publish("agents/alice/out", b"\xff\xfe not text", properties=declared_text)
    await alice.publish("agents/alice/out", b"x" * 1001)
    await alice.publish("agents/alice/out", b"x", {h.HOPS: "-1", h.TO: "bob"})
    await alice.publish("agents/alice/out", b"x", {h.TO: ""}, raw=True)
    copies = await quarantine.take(3)
    assert [c.headers[h.REASON] for c in copies] == ["bad-utf8", "too-large", "bad-hops"]
    assert all(c.headers[h.VERDICT] == "invalid" for c in copies)
    [got] = await bob.take(1)  # an empty membrane-to means "not addressed": fan-out
    assert got.payload == b"x"


async def test_a_kafka_agents_outbox_on_mqtt_is_refused(
    start_bridge: StartBridge, mqtt_peer: ConnectPeer
) -> None:
    await start_bridge(RULES)
    impostor = await mqtt_peer("impostor")
    quarantine = await mqtt_peer("q", listen=(QUARANTINE,))
    await impostor.publish("agents/kim/out", b"I am kim", {h.TO: "alice"})
    [copy] = await quarantine.take(1)
    assert copy.headers[h.REASON] == "wrong-transport"
    assert copy.headers[h.FROM] == "kim"
