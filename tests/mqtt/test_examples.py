"""deploy/examples/mqtt-only.yaml: valid, all-MQTT, and working through a real bridge."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from bus import headers as h
from bus.policy import load_policy

if TYPE_CHECKING:
    from tests.mqtt.conftest import ConnectPeer, StartBridge

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "mqtt-only.yaml"


def test_every_agent_and_channel_of_the_mqtt_only_example_is_on_mqtt() -> None:
    policy = load_policy(EXAMPLE)
    assert policy.agents  # the example names agents
    for agent in (*policy.agents, "drone-42", "#floor-alerts"):
        assert policy.transport_of(agent) == "mqtt", agent
    assert policy.inbox_topic("drone-42") == "agents/drone-42/in"
    assert policy.inbox_topic("#floor-alerts") == "warehouse/alerts"
    assert policy.rules.mqtt.quarantine_topic == "membrane/quarantine"


@pytest.mark.e2e
async def test_the_mqtt_only_example_runs_on_mosquitto(
    start_bridge: StartBridge, mqtt_peer: ConnectPeer
) -> None:
    rules = yaml.safe_load(EXAMPLE.read_text())
    del rules["mqtt"]  # the test broker: plain TCP, no credentials, on its own port
    await start_bridge(yaml.safe_dump(rules), mqtt={"client_id": "membrane-warehouse"})
    coordinator = await mqtt_peer("coordinator")
    drone = await mqtt_peer("drone-7")
    picker = await mqtt_peer("picker-1")
    quarantine = await mqtt_peer("q", listen=("membrane/quarantine",))

    await coordinator.publish("agents/coordinator/out", b"scan aisle 4",
                              {h.TO: "drone-7", h.KIND: "task"})
    [task] = await drone.take(1)
    assert (task.payload, task.headers[h.FROM]) == (b"scan aisle 4", "coordinator")

    await drone.publish("agents/drone-7/out", b"aisle 4 clear",
                        {h.TO: "coordinator", h.KIND: "done"})
    [done] = await coordinator.take(1)
    assert done.headers[h.FROM] == "drone-7"

    await picker.publish("agents/picker-1/out", b"psst", {h.TO: "drone-7", h.KIND: "task"})
    [refused] = await quarantine.take(1)
    assert refused.headers[h.REASON] == "default-deny"
    assert refused.headers[h.RECIPIENT] == "drone-7"
