"""Connecting to MQTT: persistent sessions and manual acks."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import aiomqtt
import pytest

from bus.errors import ConfigError
from bus.mqtt.connection import make_client, paho_client
from bus.rules.transports import MqttSettings

if TYPE_CHECKING:
    from tests.mqtt.conftest import MosquittoBroker


async def test_missing_password_variable_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MEMBRANE_TEST_NO_SUCH_VAR", raising=False)
    settings = MqttSettings(username="m", password_env="MEMBRANE_TEST_NO_SUCH_VAR")
    with pytest.raises(ConfigError) as caught:
        make_client(settings)
    assert caught.value.path == "$.mqtt.password_env"
    assert "MEMBRANE_TEST_NO_SUCH_VAR" in str(caught.value)


async def test_client_has_manual_acks_on_before_it_connects() -> None:
    client = make_client(MqttSettings(protocol="3.1.1"))
    assert paho_client(client)._manual_ack is True


@pytest.mark.e2e
@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_unacknowledged_messages_come_back_after_a_reconnect(
    mosquitto: MosquittoBroker, protocol: str
) -> None:
    """The persistent session plus manual acks: what was received but not
    acknowledged before the bridge went away is delivered again."""
    settings = MqttSettings(
        host=mosquitto.host, port=mosquitto.port, protocol=protocol,
        client_id=f"bridge-{protocol}", receive_maximum=5,
    )
    async with make_client(settings) as client:
        await client.subscribe("agents/+/out", qos=1)
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as agent:
        for i in range(8):
            await agent.publish("agents/a/out", f"m{i}", qos=1)

    async def read(client: aiomqtt.Client, count: int, ack: bool) -> list[bytes]:
        got: list[bytes] = []
        async for message in client.messages:
            got.append(message.payload)  # type: ignore[arg-type]
            if ack:
                paho_client(client).ack(message.mid, message.qos)
            if len(got) == count:
                break
        return got

    async with make_client(settings) as client:
        first = await asyncio.wait_for(read(client, 3, ack=False), 20)
    async with make_client(settings) as client:
        second = await asyncio.wait_for(read(client, 8, ack=True), 20)
    assert first == [b"m0", b"m1", b"m2"]
    assert second == [f"m{i}".encode() for i in range(8)]
