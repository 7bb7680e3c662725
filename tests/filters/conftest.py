"""Shared helpers for filter tests: envelopes, contexts and a settable SensorView."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bus.clock import FakeClock
from bus.envelope import Envelope
from filters.base import FilterContext


class FakeSensors:
    """A SensorView whose values the test sets."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], float] = {}
        self.majority: dict[str, str] = {}

    def value(self, group: str, sensor: str, default: float = 0.0) -> float:
        return self.values.get((group, sensor), default)

    def majority_stance(self, group: str) -> str | None:
        return self.majority.get(group)


MakeEnvelope = Callable[..., Envelope]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_000.0)


@pytest.fixture
def sensors() -> FakeSensors:
    return FakeSensors()


@pytest.fixture
def ctx(clock: FakeClock, sensors: FakeSensors) -> FilterContext:
    return FilterContext(clock=clock, sensors=sensors, group="g", group_size=3)


@pytest.fixture
def make_env() -> MakeEnvelope:
    counter = iter(range(1_000_000))

    def make(sender: str = "a", payload: bytes | None = b"hello", **fields: object) -> Envelope:
        fields.setdefault("msg_id", f"m{next(counter)}")
        return Envelope(sender=sender, payload=payload, **fields)  # type: ignore[arg-type]

    return make
