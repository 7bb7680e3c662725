"""QoS 1 end to end: nothing lost across bridge restarts and dropped connections,
held messages acknowledged only once released, ping-pong damped."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from typing import TYPE_CHECKING

import pytest

from bus import headers as h
from bus.mqtt.connection import paho_client
from tests.mqtt.conftest import ROBOTS_RULES, wait_until

if TYPE_CHECKING:
    from tests.mqtt.conftest import ConnectPeer, MqttPeer, RunningBridge, StartBridge

pytestmark = pytest.mark.e2e

MESSAGES = 2_500


async def _publish_all(sender: MqttPeer, count: int) -> None:
    for i in range(count):
        await sender.publish("agents/alice/out", f"m{i}".encode(), {h.TO: "bob", h.ID: f"id-{i}"})


async def _collect_until_complete(
    receiver: MqttPeer, count: int, seen: collections.Counter[bytes]
) -> None:
    while len(seen) < count:
        message = await asyncio.wait_for(receiver.inbox.get(), 60)
        seen[message.payload] += 1


async def _bridge_between_alice_and_bob(
    start_bridge: StartBridge, mqtt_peer: ConnectPeer, rules: str, *,
    receive_maximum: int, protocol: str = "5",
) -> tuple[RunningBridge, MqttPeer, MqttPeer]:
    running = await start_bridge(rules, protocol=protocol,
                                 mqtt={"receive_maximum": receive_maximum})
    alice = await mqtt_peer("alice", protocol=protocol)
    bob = await mqtt_peer("bob", protocol=protocol)
    return running, alice, bob


def _cut_connection(running: RunningBridge) -> None:
    """Cut the TCP connection under the bridge's client, as a network failure would."""
    client = running.bridge._client
    assert client is not None
    sock = paho_client(client).socket()
    assert sock is not None
    with contextlib.suppress(OSError):
        sock.shutdown(2)


def _report(name: str, seen: collections.Counter[bytes], running: RunningBridge) -> None:
    duplicates = sum(seen.values()) - len(seen)
    print(f"\n{name}: {len(seen)} distinct delivered, {duplicates} duplicates, "
          f"{running.bridge.connections} connections")


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_bridge_restart_mid_stream_loses_nothing(
    start_bridge: StartBridge, mqtt_peer: ConnectPeer, protocol: str
) -> None:
    running, alice, bob = await _bridge_between_alice_and_bob(
        start_bridge, mqtt_peer, ROBOTS_RULES, receive_maximum=50, protocol=protocol)
    publisher = asyncio.create_task(_publish_all(alice, MESSAGES))
    seen: collections.Counter[bytes] = collections.Counter()
    collector = asyncio.create_task(_collect_until_complete(bob, MESSAGES, seen))
    await wait_until(lambda: len(seen) >= 300)
    assert len(seen) < MESSAGES  # the restart happens mid-stream
    # No grace: whatever is in flight stays unacknowledged, as in a crash.
    await running.bridge.stop(grace=0)
    await asyncio.sleep(0.2)  # alice keeps publishing while membrane is away
    await running.bridge.start()
    await publisher
    await collector
    _report(f"restart, MQTT {protocol}", seen, running)
    assert set(seen) == {f"m{i}".encode() for i in range(MESSAGES)}
    assert running.bridge.connections == 2
    # Everything read was acknowledged in the end: nothing waits in the session.
    await wait_until(lambda: running.bridge.in_flight == 0)


async def test_dropped_connection_is_retried_and_loses_nothing(
    start_bridge: StartBridge, mqtt_peer: ConnectPeer
) -> None:
    running, alice, bob = await _bridge_between_alice_and_bob(
        start_bridge, mqtt_peer, ROBOTS_RULES, receive_maximum=20)
    publisher = asyncio.create_task(_publish_all(alice, MESSAGES))
    seen: collections.Counter[bytes] = collections.Counter()
    collector = asyncio.create_task(_collect_until_complete(bob, MESSAGES, seen))
    for cut in (300, 1200):
        await wait_until(lambda cut=cut: len(seen) >= cut)
        _cut_connection(running)
    await publisher
    await collector
    _report("dropped connections", seen, running)
    assert set(seen) == {f"m{i}".encode() for i in range(MESSAGES)}
    assert running.bridge.connections >= 2
    assert running.metrics.broker_up.labels("mqtt")._value.get() == 1


SHAPED_RULES = ROBOTS_RULES + """\
filters:
  - filter: rate
    rate: 10
    burst: 1
    per: edge
    max_delay: 60
"""


async def test_connection_cut_while_every_slot_waits_on_held_messages(
    start_bridge: StartBridge, mqtt_peer: ConnectPeer
) -> None:
    # The rate filter holds messages back, so the bridge reads its four slots
    # full and stops reading: the cut is noticed without a read failing.
    running, alice, bob = await _bridge_between_alice_and_bob(
        start_bridge, mqtt_peer, SHAPED_RULES, receive_maximum=4)
    count = 12
    await _publish_all(alice, count)
    await wait_until(lambda: running.bridge.in_flight == 4)
    _cut_connection(running)
    seen: collections.Counter[bytes] = collections.Counter()
    await asyncio.wait_for(_collect_until_complete(bob, count, seen), 30)
    assert set(seen) == {f"m{i}".encode() for i in range(count)}
    assert running.bridge.connections >= 2
    await wait_until(lambda: running.bridge.in_flight == 0)


TRIO_RULES = """\
version: 1
groups:
  robots: {members: [alice, bob, carol], transport: mqtt}
edges:
  - {name: trio, from: robots, to: robots}
filters:
  - filter: rate
    rate: 2
    burst: 1
    per: edge
    max_delay: 60
    attach: {edges: ["alice->carol"]}
"""


async def test_outcomes_written_before_a_cut_are_not_written_again(
    start_bridge: StartBridge, mqtt_peer: ConnectPeer
) -> None:
    # Each message goes to bob at once and to carol only when the rate filter
    # lets it through, so its input stays unacknowledged with bob's copy
    # written. The cut makes the broker resend those inputs.
    running = await start_bridge(TRIO_RULES)
    alice, bob, carol = [await mqtt_peer(name) for name in ("alice", "bob", "carol")]
    count = 5
    for i in range(count):
        await alice.publish("agents/alice/out", f"m{i}".encode(),
                            {h.TO: "bob,carol", h.ID: f"id-{i}"})
    to_bob = await bob.take(count)
    await wait_until(lambda: running.bridge.in_flight == count - 1)
    await asyncio.sleep(0.2)  # the broker's acknowledgements of bob's copies
    _cut_connection(running)

    to_carol = await carol.take(count)
    await wait_until(lambda: running.bridge.connections >= 2 and running.bridge.in_flight == 0)
    await asyncio.sleep(0.5)  # room for a late duplicate to arrive

    assert sorted(m.payload for m in to_bob) == sorted(m.payload for m in to_carol)
    assert bob.inbox.empty() and carol.inbox.empty()
    assert running.metrics.dedupe_dropped._value.get() >= count - 1


PINGPONG_RULES = ROBOTS_RULES + """\
filters:
  - filter: pingpong
    threshold: 2
    window: 30
    half_life: 300
    base_delay: 0.05
    factor: 2
    jitter: 0
    max_delay: 0.4
"""


async def test_mqtt_ping_pong_is_slowed_then_cut(
    start_bridge: StartBridge, mqtt_peer: ConnectPeer
) -> None:
    running = await start_bridge(PINGPONG_RULES)
    alice = await mqtt_peer("alice")
    bob = await mqtt_peer("bob")
    quarantine = await mqtt_peer("q", listen=("membrane/quarantine",))
    peers = {"alice": (alice, "bob"), "bob": (bob, "alice")}

    async def bounce(name: str) -> None:
        me, other = peers[name]
        while True:
            message = await me.inbox.get()
            turn = int(message.payload) + 1
            await me.publish(f"agents/{name}/out", str(turn).encode(), {h.TO: other})

    bouncers = [asyncio.create_task(bounce(name)) for name in peers]
    try:
        await alice.publish("agents/alice/out", b"0", {h.TO: "bob"})
        [cut] = await quarantine.take(1)
    finally:
        for task in bouncers:
            task.cancel()
    assert cut.headers[h.REASON] == "pingpong"
    assert cut.headers[h.FILTER] == "pingpong"
    assert cut.headers[h.VERDICT] == "divert"
    messages = running.metrics.messages
    # The opening message and two answers pass freely (threshold 2), the next
    # four are delayed 0.05, 0.1, 0.2 and 0.4 s, the one after would wait 0.8 s
    # (over max_delay) and is cut.
    assert int(cut.payload) == 1 + 2 + 4
    assert messages.labels("mqtt", "delayed")._value.get() == 4
    assert messages.labels("mqtt", "forwarded")._value.get() == 7
    # Held messages were acknowledged only after their release, and all were.
    await wait_until(lambda: running.bridge.in_flight == 0)
    assert running.bridge.acknowledged == 8
