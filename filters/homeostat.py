"""The homeostat: hold a group's sensed variable at a set-point by adjusting its admission rate.

Algorithm: one ``filters.pid.PidController`` and one GCRA admission bucket
per interaction group. Every ``interval`` seconds (on the first message
after it has passed: no timer, no I/O) the controller reads the group's
``sensor`` through the SensorView — ``message_rate``, an oscillation index
such as ``rate_zero_crossing`` or ``pingpong_rate``, or any other sensor
that rises with traffic — and moves the admission rate: down while the
variable is above ``setpoint``, up while below, clamped to
``[min_rate, max_rate]``. Like CoDel's (target, interval) pair, the
controller judges a standing condition over an interval rather than single
messages, and its hysteresis band (``band``: act beyond it, rest once
within half of it) keeps it from hunting around the set-point.

Admission uses GCRA at the current output rate with ``burst``: an early
message is delayed until its slot, or diverted with reason ``homeostat``
when the slot is more than ``max_delay`` away. The controller starts fully
open (``max_rate``), so a calm group is never throttled.

Gains ``kp`` (per unit of error) and ``ki`` (per unit of error per second)
are in output units (messages per second) per sensor unit; the loop is
stable while ``(kp + ki * interval) * g`` stays below about 1, where g is
how much the sensor moves per message per second admitted (about 1 for
``message_rate``).

Gauges (labels ``filter``, ``group``): ``membrane_homeostat_setpoint``,
``membrane_homeostat_measured``, ``membrane_homeostat_output``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bus.clock import Clock
from bus.envelope import Envelope
from bus.verdict import FORWARD, Delay, Divert, Verdict
from filters.base import FilterConfig, FilterContext
from filters.gcra import Gcra
from filters.pid import PidController
from filters.state import KeyedState

if TYPE_CHECKING:
    from prometheus_client import Gauge

    from bus.metrics import Metrics

REASON = "homeostat"
MAX_STEPS_PER_UPDATE = 10  # after a long quiet spell, do not integrate the whole gap at once


class HomeostatConfig(FilterConfig, frozen=True, tag="homeostat"):
    sensor: str = "message_rate"
    setpoint: float = 10.0
    band: float = 1.0
    interval: float = 1.0
    kp: float = 0.3
    ki: float = 0.5
    kd: float = 0.0
    min_rate: float = 1.0
    max_rate: float = 100.0
    burst: int = 10
    max_delay: float = 2.0
    max_groups: int = 1_000

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.min_rate <= self.max_rate:
            raise ValueError("need 0 < min_rate <= max_rate")
        if not self.interval > 0:
            raise ValueError("interval must be greater than 0 seconds")
        if self.band < 0 or self.kp < 0 or self.ki < 0 or self.kd < 0:
            raise ValueError("band and the gains kp, ki, kd cannot be negative")
        if self.kp == 0 and self.ki == 0:
            raise ValueError("kp and ki cannot both be 0: the controller would never act")
        if self.burst < 1:
            raise ValueError("burst must be at least 1")
        if self.max_delay < 0:
            raise ValueError("max_delay cannot be negative")
        if self.max_groups < 1:
            raise ValueError("max_groups must be at least 1")


class _GroupLoop:
    __slots__ = ("admission", "controller", "gauges", "measured", "updated")

    def __init__(self, config: HomeostatConfig, now: float) -> None:
        self.controller = PidController(
            setpoint=config.setpoint, kp=config.kp, ki=config.ki, kd=config.kd,
            low=config.min_rate, high=config.max_rate, band=config.band,
        )
        self.admission = Gcra()
        self.updated = now - config.interval  # measure on the first message
        self.measured = 0.0
        self.gauges: tuple[Gauge, Gauge] | None = None


class HomeostatFilter:
    __slots__ = ("_clock", "_config", "_loops", "_metrics")

    def __init__(self, config: HomeostatConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._metrics: Metrics | None = None
        self._loops: KeyedState[str, _GroupLoop] = KeyedState(
            config.max_groups, 100 * config.interval
        )

    @property
    def config(self) -> HomeostatConfig:
        return self._config

    def bind_metrics(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def output(self, group: str) -> float:
        """The group's current admission rate (``max_rate`` before any traffic)."""
        loop = self._loops.peek(group)
        return loop.controller.output if loop is not None else self._config.max_rate

    def _loop(self, group: str, now: float) -> _GroupLoop:
        loop = self._loops.get(group, now)
        if loop is None:
            loop = _GroupLoop(self._config, now)
            self._loops.put(group, now, loop)
        if loop.gauges is None and self._metrics is not None:
            name = self._config.instance_name
            self._metrics.homeostat_setpoint.labels(name, group).set(self._config.setpoint)
            loop.gauges = (
                self._metrics.homeostat_measured.labels(name, group),
                self._metrics.homeostat_output.labels(name, group),
            )
            loop.gauges[1].set(loop.controller.output)
        return loop

    async def decide(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict:
        return self.decide_now(env, recipient, ctx)

    def decide_now(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict:
        config = self._config
        now = self._clock.now()
        loop = self._loop(ctx.group, now)
        elapsed = now - loop.updated
        if elapsed >= config.interval:
            loop.measured = ctx.sensors.value(ctx.group, config.sensor)
            dt = min(elapsed, MAX_STEPS_PER_UPDATE * config.interval)
            loop.controller.update(loop.measured, dt)
            loop.updated = now
            if loop.gauges is not None:
                loop.gauges[0].set(loop.measured)
                loop.gauges[1].set(loop.controller.output)
        rate = loop.controller.output
        wait = loop.admission.reserve(now, 1.0 / rate, config.burst, config.max_delay)
        if wait is None:
            return Divert(REASON, f"group {ctx.group} admitted at {rate:.3g}/s")
        if wait > 0:
            return Delay(wait, REASON)
        return FORWARD
