"""Fixtures of the fault tests: a broker of the test's own, a rules file, a report."""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bus.embedded import EmbeddedBroker
from bus.reliability import Reconciliation

REPORT_ENV = "MEMBRANE_RELIABILITY_REPORT"

Report = Callable[..., None]


@pytest.fixture(autouse=True)
def quiet_kafka_client() -> Iterator[None]:
    """aiokafka logs every failed reconnect at ERROR; the tests count what matters."""
    logger = logging.getLogger("aiokafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    """A tansu broker of this test's own (fault tests stop and restart it)."""
    with EmbeddedBroker() as running:
        yield running


@pytest.fixture
def prefix() -> str:
    return f"rel{uuid.uuid4().hex[:8]}"


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Report:
    """Print one Reliability-table row; also append it (JSON) to $MEMBRANE_RELIABILITY_REPORT."""

    def write(fault: str, result: Reconciliation, **extra: object) -> None:
        row = {"test": request.node.name, "fault": fault, "inputs": result.inputs,
               "expected": result.expected, "delivered": result.delivered,
               "quarantined": result.quarantined, "lost": result.lost,
               "duplicates": result.duplicates, **extra}
        print(f"\nreliability: {json.dumps(row)}")
        target = os.environ.get(REPORT_ENV)
        if target:
            with Path(target).open("a") as out:
                out.write(json.dumps(row) + "\n")

    return write
