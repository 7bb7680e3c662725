"""A publish the broker refuses for good is quarantined with the broker's reason,
and the bridge keeps serving everyone else (a real Mosquitto with an ACL)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bus import headers as h
from tests.mqtt.conftest import ROBOTS_RULES, password_file, wait_until

if TYPE_CHECKING:
    from tests.mqtt.conftest import ConnectPeer, MosquittoBroker, StartBridge, StartMosquitto

pytestmark = pytest.mark.e2e

# membrane may not write bob's inbox: a mistake in the broker's ACL.
ACL = """\
user membrane
topic read agents/+/out
topic write agents/alice/in
topic write membrane/quarantine

user alice
topic readwrite #

user bob
topic readwrite #
"""
USERS = ("alice", "bob", "membrane")


@pytest.fixture
def mosquitto(
    start_mosquitto: StartMosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> MosquittoBroker:
    """Mosquitto with passwords and the ACL above (replaces the anonymous one)."""
    passwords = password_file(tmp_path, USERS)
    acl = tmp_path / "acl"
    acl.write_text(ACL)
    monkeypatch.setenv("MEMBRANE_TEST_MQTT_PASSWORD", "membrane-secret")
    return start_mosquitto(extra=f"password_file {passwords}\nacl_file {acl}\n",
                           anonymous=False)


async def test_a_refused_publish_is_quarantined_and_the_rest_flows(
    start_bridge: StartBridge, mqtt_peer: ConnectPeer
) -> None:
    running = await start_bridge(ROBOTS_RULES, mqtt={
        "username": "membrane", "password_env": "MEMBRANE_TEST_MQTT_PASSWORD",
        "receive_maximum": 2,
    })
    alice = await mqtt_peer("alice", password="alice-secret")
    bob = await mqtt_peer("bob", password="bob-secret")
    quarantine = await mqtt_peer("bob", listen=("membrane/quarantine",),
                                 password="bob-secret")

    # More refused messages than the bridge has slots: none may keep its slot.
    for i in range(4):
        await alice.publish("agents/alice/out", f"to-bob-{i}".encode(), {h.TO: "bob"})
    await bob.publish("agents/bob/out", b"to-alice", {h.TO: "alice"})

    refused = await quarantine.take(4)
    [delivered] = await alice.take(1)
    assert delivered.payload == b"to-alice"
    assert sorted(m.payload for m in refused) == [f"to-bob-{i}".encode() for i in range(4)]
    for copy in refused:
        assert copy.headers[h.REASON] == "broker-refused"
        assert copy.headers[h.VERDICT] == "unroutable"
        assert copy.headers[h.RECIPIENT] == "bob"
        assert "agents/bob/in" in copy.headers[h.DETAIL]
        assert "0x87" in copy.headers[h.DETAIL]
    assert bob.inbox.empty()
    await wait_until(lambda: running.bridge.in_flight == 0)
    assert running.metrics.quarantined.labels("broker-refused")._value.get() == 4
