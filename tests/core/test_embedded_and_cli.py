"""The embedded broker starts, answers Kafka clients and stops; the CLI dispatches."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bus.cli.main import main
from bus.embedded import EmbeddedBroker, free_port
from bus.errors import ConfigError


async def test_embedded_broker_round_trip() -> None:
    topic = f"t-{uuid.uuid4().hex}"
    async with EmbeddedBroker() as broker:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"hello", headers=[("a", b"1")])
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            record = await consumer.getone()
        finally:
            await consumer.stop()
        assert record.value == b"hello"
        assert record.headers == (("a", b"1"),)
    assert not broker.running


def test_stop_is_idempotent_and_port_is_kept_for_restart() -> None:
    port = free_port()
    broker = EmbeddedBroker(port=port)
    broker.start_sync()
    broker.stop_sync()
    broker.stop_sync()
    broker.start_sync()
    assert broker.running and broker.port == port
    broker.stop_sync()


def test_explicit_binary_that_does_not_exist_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MEMBRANE_TANSU_BIN", "/nonexistent/tansu")
    with pytest.raises(ConfigError, match="MEMBRANE_TANSU_BIN"):
        EmbeddedBroker().start_sync()


def test_cli_without_arguments_is_a_usage_error() -> None:
    assert main([]) == 2


def test_cli_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2
