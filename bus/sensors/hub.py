"""The sensor hub: every group's sensors behind one object.

The engine calls ``observe_sent`` once per input envelope and
``observe_delivered`` once per forwarded recipient; filters and the
homeostat read values through the ``SensorView`` methods; Prometheus reads
them at scrape time through the collector that ``register`` installs. Each
update is O(1) in the number of agents (O(K) at worst in the number of
distinct stances); groups are capped at ``max_groups``, and messages of
further groups are counted in the overflow group ``other``.

Not thread-safe, by design (no lock on the hot path): feed it and scrape it
from one thread, as membrane's asyncio /metrics server does (``bus.http``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

from bus.clock import SYSTEM_CLOCK, Clock
from bus.envelope import Envelope
from bus.sensors.config import SensorsConfig
from bus.sensors.group import SENSOR_NAMES, SENSORS, GroupSensors
from bus.sensors.stance import Rejected, Stance, StanceReader

if TYPE_CHECKING:
    from bus.metrics import Metrics

OVERFLOW_GROUP: Final = "other"


class SensorHub:
    __slots__ = ("_clock", "_collector", "_groups", "_last_env", "_last_stance", "_reader",
                 "config")

    def __init__(self, config: SensorsConfig | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config if config is not None else SensorsConfig()
        self._clock = clock
        self._reader = StanceReader(self.config)
        self._groups: dict[str, GroupSensors] = {}
        # The stance of the envelope seen last: its deliveries follow its
        # observe_sent, so the payload is parsed once, not once per recipient.
        self._last_env: Envelope | None = None
        self._last_stance: Stance | Rejected | None = None
        self._collector: object | None = None

    # -- updates (hot path) ----------------------------------------------

    def observe_sent(self, env: Envelope, group: str, now: float) -> None:
        """One input envelope from ``env.sender``, a member of ``group``."""
        self._group(group, now).observe_sent(env, self._stance(env), now)

    def observe_delivered(self, env: Envelope, recipient: str, group: str, now: float) -> None:
        """``env`` was forwarded to ``recipient``, who has now been shown its stance."""
        self._group(group, now).observe_delivered(env, recipient, self._stance(env), now)

    def _stance(self, env: Envelope) -> Stance | Rejected | None:
        if env is not self._last_env:
            self._last_env = env
            self._last_stance = self._reader.read(env)
        return self._last_stance

    def _group(self, name: str, now: float) -> GroupSensors:
        group = self._groups.get(name)
        if group is None:
            if len(self._groups) >= self.config.max_groups:
                name = OVERFLOW_GROUP
                group = self._groups.get(name)
            if group is None:
                group = self._groups[name] = GroupSensors(self.config, now)
        return group

    # -- reads (SensorView) ----------------------------------------------

    def value(self, group: str, sensor: str, default: float = 0.0) -> float:
        """The sensor's current value for ``group``; ``default`` while undefined."""
        if sensor not in SENSORS:
            raise KeyError(f"unknown sensor {sensor!r}; known: {', '.join(SENSOR_NAMES)}")
        found = self._groups.get(group)
        if found is None:
            return default
        found.advance(self._clock.now())
        result = found.read(sensor)
        return default if result is None else result

    def majority_stance(self, group: str) -> str | None:
        """The stance most members hold now; None if none or tied (see docs/sensors.md)."""
        found = self._groups.get(group)
        return None if found is None else found.tally.majority()

    def snapshot(self) -> dict[str, dict[str, float]]:
        """Every defined sensor value of every group, as of now."""
        return {
            name: {s: v for s in SENSOR_NAMES if (v := group.read(s)) is not None}
            for name, group in self.current_groups()
        }

    def current_groups(self) -> Iterator[tuple[str, GroupSensors]]:
        """Groups brought up to date with the clock (idle agents swept): for exporters."""
        now = self._clock.now()
        for name, group in list(self._groups.items()):
            group.advance(now)
            group.agents.sweep(now)
            yield name, group

    def now(self) -> float:
        return self._clock.now()

    def register(self, metrics: Metrics) -> None:
        """Export the sensors through ``metrics.registry``, computed at scrape time."""
        from bus.sensors.export import SensorCollector

        if self._collector is not None:
            raise ValueError("this SensorHub is already registered with a Metrics")
        collector = SensorCollector(self)
        metrics.registry.register(collector)
        self._collector = collector
