"""A mixed fleet whose MQTT broker refuses one inbox to membrane (a mistake in
its ACL): a Kafka agent's message to that inbox is quarantined on Kafka, and
the relay goes on relaying and committing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bus import headers as h
from tests.mqtt.conftest import wait_until
from tests.mqtt.test_mixed import Fleet, fleet, records

if TYPE_CHECKING:
    from tests.mqtt.conftest import ConnectPeer, MosquittoBroker, StartMosquitto

pytestmark = pytest.mark.e2e

__all__ = ["fleet"]  # the fixture, shared with the mixed-fleet tests

# Every client here is anonymous; nobody may write carol's inbox.
ACL = """\
topic read agents/+/in
topic readwrite agents/+/out
topic write agents/alice/in
topic readwrite membrane/quarantine
"""


@pytest.fixture
def mosquitto(start_mosquitto: StartMosquitto, tmp_path: Path) -> MosquittoBroker:
    acl = tmp_path / "acl"
    acl.write_text(ACL)
    return start_mosquitto(extra=f"acl_file {acl}\n")


async def test_a_publish_mqtt_refuses_is_quarantined_on_kafka(
    fleet: Fleet, mqtt_peer: ConnectPeer
) -> None:
    alice = await mqtt_peer("alice")
    carol = await mqtt_peer("carol")
    quarantine = await fleet.consumer(f"{fleet.prefix}.quarantine")
    outbox = f"{fleet.prefix}.kim.outbox"
    try:
        for i in range(3):  # more than one, so none may hold the lane
            await fleet.producer.send_and_wait(outbox, f"to carol {i}".encode(), key=b"kim",
                                               headers=[(h.TO, b"carol")])
        await fleet.producer.send_and_wait(outbox, b"to alice", key=b"kim",
                                           headers=[(h.TO, b"alice")])
        copies = await records(quarantine, 3)
    finally:
        await quarantine.stop()
    [delivered] = await alice.take(1)
    assert delivered.payload == b"to alice"
    assert sorted(r.value for r in copies) == [f"to carol {i}".encode() for i in range(3)]
    for copy in copies:
        headers = {name: value.decode() for name, value in copy.headers}
        assert headers[h.REASON] == "broker-refused"
        assert headers[h.RECIPIENT] == "carol"
        assert headers[h.FROM] == "kim"
        assert "0x87" in headers[h.DETAIL]
    assert carol.inbox.empty()
    await wait_until(lambda: fleet.relay.in_flight == 0)
