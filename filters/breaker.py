"""Circuit breaker per sender, with outlier ejection that grows with repeat offences.

Algorithm (the three-state breaker, with Envoy-style outlier ejection):

- *closed*: the sender's messages pass. The chain reports every final
  outcome back (``observe_outcome``); a two-bucket sliding window over
  ``window`` seconds estimates how many of the sender's messages were
  decided and how many were diverted (by any filter). When at least
  ``min_volume`` were decided and the diverted share reaches
  ``max_divert_ratio``, or when ``max_oscillation`` is set and the group's
  ``oscillation_sensor`` (read through the SensorView) has reached it while
  the sender is that busy, the sender is *ejected*.
- *open*: everything the sender sends is diverted with reason
  ``breaker-open`` for ``base_ejection * n`` seconds (capped at
  ``max_ejection``), where n counts its ejections; n falls by one for each
  ``base_ejection`` seconds it then stays healthy.
- *half-open*: when the cooldown ends, ``half_open_probes`` messages go
  through as probes while the rest stay diverted. If every probe is
  delivered the breaker closes with a fresh window; if any is diverted the
  sender is ejected again, for longer. Probes whose outcome does not come
  back within ``window`` seconds are replaced by new ones.

Parameters: ``window``, ``min_volume``, ``max_divert_ratio``,
``oscillation_sensor``, ``max_oscillation``, ``base_ejection``,
``max_ejection``, ``half_open_probes``, ``max_senders``.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Literal

from bus.clock import Clock
from bus.envelope import Envelope
from bus.verdict import FORWARD, Divert, Verdict
from filters.base import FilterConfig, FilterContext
from filters.state import KeyedState
from filters.window import SlidingCount

REASON = "breaker-open"

BreakerState = Literal["closed", "open", "half-open"]


class BreakerConfig(FilterConfig, frozen=True, tag="breaker"):
    window: float = 30.0
    min_volume: int = 20
    max_divert_ratio: float = 0.5
    oscillation_sensor: str = "pingpong_rate"
    max_oscillation: float | None = None
    base_ejection: float = 30.0
    max_ejection: float = 300.0
    half_open_probes: int = 3
    max_senders: int = 10_000

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.window > 0:
            raise ValueError("window must be greater than 0 seconds")
        if self.min_volume < 1:
            raise ValueError("min_volume must be at least 1")
        if not 0 < self.max_divert_ratio <= 1:
            raise ValueError("max_divert_ratio must be in (0, 1]")
        if not 0 < self.base_ejection <= self.max_ejection:
            raise ValueError("base_ejection must be greater than 0 and at most max_ejection")
        if self.half_open_probes < 1:
            raise ValueError("half_open_probes must be at least 1")
        if self.max_senders < 1:
            raise ValueError("max_senders must be at least 1")


class _Circuit:
    __slots__ = (
        "closed_since",
        "decided",
        "diverted",
        "ejections",
        "open_until",
        "probes",
        "probes_at",
        "probes_passed",
        "state",
        "why",
    )

    def __init__(self, window: float) -> None:
        self.state: BreakerState = "closed"
        self.decided = SlidingCount(window)
        self.diverted = SlidingCount(window)
        self.ejections = 0
        self.closed_since = float("-inf")
        self.open_until = 0.0
        self.probes: set[tuple[str, str]] = set()
        self.probes_at = 0.0
        self.probes_passed = 0
        self.why = ""


class BreakerFilter:
    __slots__ = ("_circuits", "_clock", "_config", "_new_circuit")

    def __init__(self, config: BreakerConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._new_circuit = partial(_Circuit, config.window)
        idle = 2 * max(config.window, config.max_ejection)
        self._circuits: KeyedState[str, _Circuit] = KeyedState(config.max_senders, idle)

    @property
    def config(self) -> BreakerConfig:
        return self._config

    def state_of(self, sender: str) -> BreakerState:
        circuit = self._circuits.peek(sender)
        return circuit.state if circuit is not None else "closed"

    async def decide(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict:
        return self.decide_now(env, recipient, ctx)

    def decide_now(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict:
        config = self._config
        now = self._clock.now()
        circuit = self._circuits.get_or_create(env.sender, now, self._new_circuit)
        if circuit.state == "open":
            if now < circuit.open_until:
                return Divert(REASON, circuit.why)
            circuit.state = "half-open"
            circuit.probes.clear()
            circuit.probes_passed = 0
        if circuit.state == "half-open":
            if now - circuit.probes_at > config.window:
                circuit.probes.clear()  # their outcomes never came back
            if len(circuit.probes) < config.half_open_probes:
                if not circuit.probes:
                    circuit.probes_at = now
                circuit.probes.add((env.msg_id, recipient))
                return FORWARD
            return Divert(REASON, f"half-open, probing: {circuit.why}")
        if config.max_oscillation is not None:
            volume = circuit.decided.value(now)
            if volume >= config.min_volume:
                level = ctx.sensors.value(ctx.group, config.oscillation_sensor)
                if level >= config.max_oscillation:
                    self._eject(circuit, now, f"{config.oscillation_sensor}={level:.3g}")
                    return Divert(REASON, circuit.why)
        return FORWARD

    def observe_outcome(self, env: Envelope, recipient: str, diverted: bool, now: float) -> None:
        circuit = self._circuits.peek(env.sender)
        if circuit is None:
            return
        if circuit.state == "half-open":
            probe = (env.msg_id, recipient)
            if probe not in circuit.probes:
                return
            if diverted:
                self._eject(circuit, now, "a half-open probe was diverted")
                return
            circuit.probes_passed += 1
            if circuit.probes_passed >= self._config.half_open_probes:
                self._close(circuit, now)
            return
        if circuit.state == "open":
            return
        decided = circuit.decided.add(now)
        config = self._config
        if diverted:
            diverted_count = circuit.diverted.add(now)
        elif decided < config.min_volume:
            return  # too few to judge; the diverted count rolls forward when next read
        else:
            diverted_count = circuit.diverted.value(now)
        if decided >= config.min_volume and diverted_count >= config.max_divert_ratio * decided:
            self._eject(circuit, now, f"{diverted_count:.0f} of {decided:.0f} diverted")

    def _eject(self, circuit: _Circuit, now: float, why: str) -> None:
        config = self._config
        if circuit.state == "closed" and circuit.ejections:
            healthy_periods = math.floor((now - circuit.closed_since) / config.base_ejection)
            circuit.ejections = max(0, circuit.ejections - healthy_periods)
        circuit.ejections += 1
        cooldown = min(config.base_ejection * circuit.ejections, config.max_ejection)
        circuit.state = "open"
        circuit.open_until = now + cooldown
        circuit.probes.clear()
        circuit.why = f"ejection {circuit.ejections} for {cooldown:g}s: {why}"

    def _close(self, circuit: _Circuit, now: float) -> None:
        circuit.state = "closed"
        circuit.closed_since = now
        circuit.decided = SlidingCount(self._config.window)
        circuit.diverted = SlidingCount(self._config.window)
        circuit.probes.clear()
