"""The MQTT half of ``membrane run``: when it is needed, and an MQTT-only start."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bus import headers as h
from bus.engine.engine import Engine
from bus.metrics import Metrics
from bus.mqtt.service import MqttService, uses_mqtt
from bus.policy import PolicyHolder, load_policy
from bus.rules.loader import load_rules
from tests.mqtt.conftest import mqtt_section

if TYPE_CHECKING:
    from tests.mqtt.conftest import ConnectPeer, MosquittoBroker

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"


@pytest.mark.parametrize(
    ("example", "expected"),
    [("mqtt-only.yaml", True), ("mixed.yaml", True), ("team.yaml", False)],
)
def test_the_bridge_is_needed_when_anything_lives_on_mqtt(example: str, expected: bool) -> None:
    assert uses_mqtt(load_rules(EXAMPLES / example)) is expected


@pytest.mark.e2e
async def test_mqtt_only_service_quarantines_on_mqtt(
    mosquitto: MosquittoBroker, mqtt_peer: ConnectPeer, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\ngroups:\n  bots: {members: [a, b], transport: mqtt}\n"
        "edges:\n  - {name: ab, from: a, to: b}\n" + mqtt_section(mosquitto, "5")
    )
    policy = load_policy(rules)
    engine = Engine(PolicyHolder(policy), metrics=Metrics(), transport_name="mqtt")
    service = MqttService(policy.rules.mqtt)
    await engine.start()
    bridge = await service.start(engine, bootstrap=None, kafka=policy.rules.kafka)
    try:
        await asyncio.wait_for(bridge.ready.wait(), 30)
        a = await mqtt_peer("a")
        b = await mqtt_peer("b")
        quarantine = await mqtt_peer("q", listen=("membrane/quarantine",))
        await b.publish("agents/b/out", b"no edge back", {h.TO: "a"})
        await a.publish("agents/a/out", b"hello", {h.TO: "b"})
        [refused] = await quarantine.take(1)
        [got] = await b.take(1)
    finally:
        await service.stop(grace=1)
        await engine.stop()
    assert (refused.payload, refused.headers[h.REASON]) == (b"no edge back", "default-deny")
    assert (got.payload, got.headers[h.FROM]) == (b"hello", "a")
    assert service.bridge is None
