"""Connecting to MQTT: persistent sessions, manual acks, backoff with jitter."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import aiomqtt
import pytest

from bus.errors import ConfigError
from bus.mqtt.connection import Backoff, make_client, paho_client
from bus.rules.transports import MqttSettings

if TYPE_CHECKING:
    from tests.mqtt.conftest import MosquittoBroker


def test_backoff_grows_exponentially_up_to_the_cap_and_resets() -> None:
    backoff = Backoff(base=0.5, cap=4.0, rand=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.attempt == 0
    assert backoff.next_delay() == 0.5


def test_backoff_jitter_spreads_delays_over_the_whole_window() -> None:
    draws = iter([0.0, 0.25, 0.999])
    backoff = Backoff(base=1.0, cap=1.0, rand=lambda: next(draws))
    assert [backoff.next_delay() for _ in range(3)] == [0.0, 0.25, 0.999]


def test_backoff_rejects_nonsense_bounds() -> None:
    with pytest.raises(ValueError, match="base <= cap"):
        Backoff(base=2.0, cap=1.0)


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
