"""What the engine needs from its surroundings: a policy source and (optionally) sensors."""

from __future__ import annotations

from typing import Protocol

from bus.decision import PolicyView
from bus.envelope import Envelope
from filters.base import SensorView


class PolicySource(Protocol):
    """Where the engine reads the policy in force (``bus.policy.PolicyHolder``)."""

    @property
    def current(self) -> PolicyView: ...


class SensorSink(SensorView, Protocol):
    """What the engine feeds (``bus.sensors.SensorHub``)."""

    def observe_sent(self, env: Envelope, group: str, now: float) -> None: ...

    def observe_delivered(self, env: Envelope, recipient: str, group: str, now: float) -> None:
        ...
