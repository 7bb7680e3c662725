"""Fixtures shared by every test package: the real embedded Kafka broker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bus.embedded import EmbeddedBroker


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[EmbeddedBroker]:
    """One tansu broker for the whole session; tests use unique topic names."""
    with EmbeddedBroker() as broker:
        yield broker


@pytest.fixture
def fresh_kafka_broker() -> Iterator[EmbeddedBroker]:
    """A broker of a test's own, for tests that stop or restart it."""
    with EmbeddedBroker() as broker:
        yield broker
