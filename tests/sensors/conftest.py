"""A scripted group chat driving a SensorHub with a fake clock."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from bus.clock import FakeClock
from bus.envelope import Envelope
from bus.sensors import SensorHub, SensorsConfig


class Chat:
    """Sends envelopes through a hub as the engine would: observe_sent once,
    then observe_delivered per recipient, all in group ``g``."""

    def __init__(self, config: SensorsConfig) -> None:
        self.clock = FakeClock(1000.0)
        self.hub = SensorHub(config, self.clock)

    def send(
        self,
        sender: str,
        stance: str | None = None,
        to: Sequence[str] = (),
        *,
        hops: int = 0,
        payload: bytes = b"{}",
        group: str = "g",
    ) -> Envelope:
        env = Envelope(sender=sender, payload=payload, stance=stance, hops=hops)
        now = self.clock.now()
        self.hub.observe_sent(env, group, now)
        for recipient in to:
            self.hub.observe_delivered(env, recipient, group, now)
        return env

    def value(self, sensor: str, group: str = "g") -> float:
        return self.hub.value(group, sensor, default=float("nan"))

    def wait(self, seconds: float) -> None:
        self.clock.advance(seconds)


@pytest.fixture
def make_chat() -> Callable[..., Chat]:
    def make(**settings: object) -> Chat:
        return Chat(SensorsConfig(**settings))  # type: ignore[arg-type]

    return make
