"""The generated Mosquitto ACL file, applied to a real Mosquitto, closes the bypass."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import aiomqtt
import pytest

from bus.cli.main import main
from tests.mqtt.conftest import ROBOTS_RULES, password_file

if TYPE_CHECKING:
    from tests.mqtt.conftest import MosquittoBroker, StartMosquitto

pytestmark = pytest.mark.e2e

USERS = ("alice", "bob", "membrane")


def _secured_broker(start: StartMosquitto, tmp_path: Path) -> MosquittoBroker:
    rules = tmp_path / "rules.yaml"
    rules.write_text(ROBOTS_RULES)
    assert main(["acls", str(rules), "--format", "mosquitto", "--out", str(tmp_path)]) == 0
    passwords = password_file(tmp_path, USERS)
    return start(
        extra=f"password_file {passwords}\nacl_file {tmp_path / 'mosquitto.acl'}\n",
        anonymous=False,
    )


def _client(broker: MosquittoBroker, user: str) -> aiomqtt.Client:
    return aiomqtt.Client(
        broker.host,
        broker.port,
        username=user,
        password=f"{user}-secret",
        identifier=f"acl-test-{user}",
        protocol=aiomqtt.ProtocolVersion.V5,
    )


@contextlib.asynccontextmanager
async def _connected(
    start: StartMosquitto, tmp_path: Path
) -> AsyncIterator[tuple[aiomqtt.Client, aiomqtt.Client, aiomqtt.Client]]:
    """alice, bob and membrane, each logged in to a broker that enforces the generated ACL."""
    broker = _secured_broker(start, tmp_path)
    async with (
        _client(broker, "alice") as alice,
        _client(broker, "bob") as bob,
        _client(broker, "membrane") as membrane,
    ):
        yield alice, bob, membrane


async def _first(client: aiomqtt.Client) -> aiomqtt.Message:
    async for message in client.messages:
        return message
    raise AssertionError("connection closed before a message arrived")


async def test_agent_cannot_publish_into_another_agents_inbox(
    start_mosquitto: StartMosquitto, tmp_path: Path
) -> None:
    async with _connected(start_mosquitto, tmp_path) as (alice, bob, membrane):
        await bob.subscribe("agents/bob/in", qos=1)
        await membrane.subscribe("agents/+/out", qos=1)

        # The bypass: straight into bob's inbox. Then alice's own outbox, on
        # the same connection, so the broker has handled the first publish
        # before membrane sees the second.
        await alice.publish("agents/bob/in", b"bypass", qos=1)
        await alice.publish("agents/alice/out", b"via membrane", qos=1)
        seen = await asyncio.wait_for(_first(membrane), 20)
        assert (seen.topic.value, seen.payload) == ("agents/alice/out", b"via membrane")

        # Membrane may write bob's inbox. Had the bypass been delivered, it
        # would reach bob before this (one broker, routed earlier).
        await membrane.publish("agents/bob/in", b"from membrane", qos=1)
        got = await asyncio.wait_for(_first(bob), 20)
        assert got.payload == b"from membrane"


async def test_agent_cannot_read_other_inboxes_or_outboxes(
    start_mosquitto: StartMosquitto, tmp_path: Path
) -> None:
    """Mosquitto accepts the subscription but delivers nothing the ACL does not grant."""
    async with _connected(start_mosquitto, tmp_path) as (alice, bob, membrane):
        await alice.subscribe("agents/bob/in", qos=1)
        await alice.subscribe("agents/+/out", qos=1)
        await alice.subscribe("agents/alice/in", qos=1)
        await membrane.subscribe("agents/+/out", qos=1)

        await membrane.publish("agents/bob/in", b"for bob only", qos=1)
        await bob.publish("agents/bob/out", b"bob's outbox", qos=1)
        seen = await asyncio.wait_for(_first(membrane), 20)
        assert seen.payload == b"bob's outbox"
        # Both publishes above were routed before this one.
        await membrane.publish("agents/alice/in", b"for alice", qos=1)
        got = await asyncio.wait_for(_first(alice), 20)
        assert (got.topic.value, got.payload) == ("agents/alice/in", b"for alice")


async def test_unknown_users_cannot_connect(
    start_mosquitto: StartMosquitto, tmp_path: Path
) -> None:
    broker = _secured_broker(start_mosquitto, tmp_path)
    client = aiomqtt.Client(broker.host, broker.port, username="mallory", password="guess")
    with pytest.raises(aiomqtt.MqttError):
        async with client:
            pass
