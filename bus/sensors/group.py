"""All sensors of one interaction group, updated in O(1) (or O(K)) per message.

A group owns: a window of event counts (``WindowCounts``), the series of
messages sent per complete interval (``RateSeries``), the tally of its
members' latest stances (``StanceTally``), a bounded table of agents
(``AgentTable``), a bounded table of alternation runs on pairs
(``PingPongTable``) and the cascade histograms. Sensor values are derived on
read; see docs/sensors.md for each definition.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

from bus.envelope import Envelope
from bus.sensors.agents import AgentState, AgentTable
from bus.sensors.cascade import HOP_BUCKETS, CountHistogram, FanoutTracker
from bus.sensors.config import SensorsConfig
from bus.sensors.consensus import StanceTally, strict_mode
from bus.sensors.pingpong import PingPongTable
from bus.sensors.series import RateSeries
from bus.sensors.stance import REJECTIONS, TOO_MANY_LABELS, Rejected, Stance
from bus.sensors.window import WindowCounts

# Event fields counted per interval (windowed) and since start (cumulative).
SENT, DELIVERED, DIRECT, CHANGES, CONFORMING, FLIPS, REVERTS, PINGPONG, HOPS = range(9)
FIELDS: Final = 9
FANOUT_PENDING_CAPACITY: Final = 10_000
IDLE_EVICTIONS_PER_INTERVAL: Final = 64


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


class GroupSensors:
    __slots__ = (
        "_interval",
        "_interval_index",
        "_length",
        "_max_stances",
        "_next_interval_at",
        "_per_agent_tau",
        "_span",
        "agents",
        "drift_sum",
        "fanout",
        "hops",
        "pingpong",
        "rejected",
        "series",
        "tally",
        "window",
    )

    def __init__(self, config: SensorsConfig, now: float) -> None:
        length = self._length = config.intervals
        self._interval = config.interval_seconds
        self._max_stances = config.max_stances
        self._interval_index = math.floor(now / self._interval)
        self._next_interval_at = (self._interval_index + 1) * self._interval
        self._per_agent_tau = config.window_seconds if config.per_agent.enabled else 0.0
        numeric = config.stance_type == "numeric"
        low, high = config.stance_min or 0.0, config.stance_max or 0.0
        self._span = high - low if numeric else 0.0
        self.window = WindowCounts(length, FIELDS)
        self.series = RateSeries(length)
        self.tally = StanceTally(
            capacity=config.max_stances,
            possible=config.possible_stances,
            alpha=config.polarisation_alpha,
            span=self._span,
        )
        self.agents = AgentTable(
            capacity=config.max_agents_per_group,
            idle_seconds=config.idle_seconds,
            on_evict=self._forget,
        )
        self.pingpong = PingPongTable(
            capacity=config.max_edges_per_group,
            min_run=config.pingpong_min_run,
            gap_seconds=config.window_seconds,
        )
        self.hops = CountHistogram(HOP_BUCKETS)
        self.fanout = FanoutTracker(
            capacity=FANOUT_PENDING_CAPACITY, settle_seconds=config.fanout_settle_seconds
        )
        self.drift_sum = 0.0
        self.rejected = dict.fromkeys(REJECTIONS, 0)

    # -- updates ---------------------------------------------------------

    def observe_sent(self, env: Envelope, stance: Stance | Rejected | None, now: float) -> None:
        self.advance(now)
        self.window.add(SENT)
        self.window.add(HOPS, env.hops)
        self.hops.observe(env.hops)
        self.fanout.sent(env.msg_id, now)
        agent = self.agents.touch(env.sender, now)
        if self._per_agent_tau:
            agent.count_message(now, self._per_agent_tau)
        if isinstance(stance, Rejected):
            self.rejected[stance.reason] += 1
        elif stance is not None:
            self._state(agent, stance)

    def observe_delivered(
        self, env: Envelope, recipient: str, stance: Stance | Rejected | None, now: float
    ) -> None:
        self.advance(now)
        self.window.add(DELIVERED)
        self.fanout.delivered(env.msg_id)
        if recipient.startswith("#"):  # a shared channel: its readers are unknown
            return
        self.window.add(DIRECT)
        if self.pingpong.observe(env.sender, recipient, now):
            self.window.add(PINGPONG)
        if isinstance(stance, Stance):
            agent = self.agents.touch(recipient, now)
            exposure = agent.exposure
            if exposure is None:
                agent.exposure = {stance.label: 1}
            elif stance.label in exposure:
                exposure[stance.label] += 1
            elif len(exposure) < self._max_stances:  # an agent that never speaks stays bounded
                exposure[stance.label] = 1

    def advance(self, now: float) -> None:
        """Close every interval that ended before ``now`` (amortised O(1))."""
        if now < self._next_interval_at:  # the common case: still the same interval
            return
        index = math.floor(now / self._interval)
        elapsed = index - self._interval_index
        if elapsed <= 0:
            return
        self.series.push(self.window.current(SENT))
        for _ in range(min(elapsed - 1, self._length)):  # intervals without messages
            self.series.push(0)
        self.window.rotate(elapsed)
        self._interval_index = index
        self._next_interval_at = (index + 1) * self._interval
        self.fanout.settle(now)
        self.agents.sweep(now, IDLE_EVICTIONS_PER_INTERVAL)

    def _state(self, agent: AgentState, stance: Stance) -> None:
        """Record a stance statement: classify a change, update tallies and drift."""
        label = stance.label
        if not self.tally.accepts(label):
            self.rejected[TOO_MANY_LABELS] += 1
            return
        exposure, agent.exposure = agent.exposure, None
        old = agent.stance
        if old == label:
            return
        if old is None:
            agent.stance = agent.first = label
            agent.value = agent.first_value = stance.value
            self.tally.add(label, stance.value)
            return
        self.window.add(CHANGES)
        if exposure:
            if any(shown != old for shown in exposure):
                self.window.add(FLIPS)
            if strict_mode(exposure) == label:
                self.window.add(CONFORMING)
        if agent.before == label:
            self.window.add(REVERTS)
        agent.before = old
        agent.stance = label
        agent.value = stance.value
        self.tally.remove(old)
        self.tally.add(label, stance.value)
        drift = self._drift(agent)
        self.drift_sum += drift - agent.drift
        agent.drift = drift

    def _drift(self, agent: AgentState) -> float:
        if self._span > 0:
            return abs(agent.value - agent.first_value) / self._span
        return 0.0 if agent.stance == agent.first else 1.0

    def _forget(self, agent: AgentState) -> None:
        if agent.stance is None:
            return
        self.tally.remove(agent.stance)
        self.drift_sum -= agent.drift
        if not self.tally.total:
            self.drift_sum = 0.0  # no rounding residue survives an empty group

    # -- reads (call ``advance`` first so windowed values are current) -----

    def read(self, sensor: str) -> float | None:
        """The sensor's value, or None while it is undefined (see docs/sensors.md)."""
        return SENSORS[sensor](self)

    def message_rate(self) -> float | None:
        mean = self.series.mean()
        return None if mean is None else mean / self._interval

    def conformity_rate(self) -> float | None:
        return _ratio(self.window.totals[CONFORMING], self.window.totals[CHANGES])

    def flips_after_exposure(self) -> float | None:
        return float(self.window.totals[FLIPS])

    def revert_rate(self) -> float | None:
        return _ratio(self.window.totals[REVERTS], self.window.totals[CHANGES])

    def pingpong_rate(self) -> float | None:
        return _ratio(self.window.totals[PINGPONG], self.window.totals[DIRECT])

    def drift(self) -> float | None:
        return _ratio_f(self.drift_sum, self.tally.total)

    def mean_hops(self) -> float | None:
        return _ratio(self.window.totals[HOPS], self.window.totals[SENT])

    def mean_fanout(self) -> float | None:
        return _ratio(self.window.totals[DELIVERED], self.window.totals[SENT])


def _ratio_f(numerator: float, denominator: int) -> float | None:
    return max(0.0, numerator / denominator) if denominator else None


SENSORS: Final[dict[str, Callable[[GroupSensors], float | None]]] = {
    "message_rate": GroupSensors.message_rate,
    "consensus": lambda g: g.tally.consensus(),
    "modal_share": lambda g: g.tally.modal_share(),
    "conformity_rate": GroupSensors.conformity_rate,
    "flips_after_exposure": GroupSensors.flips_after_exposure,
    "polarisation": lambda g: g.tally.polarisation(),
    "revert_rate": GroupSensors.revert_rate,
    "pingpong_rate": GroupSensors.pingpong_rate,
    "rate_autocorrelation": lambda g: g.series.autocorrelation(),
    "rate_zero_crossing": lambda g: g.series.zero_crossing_rate(),
    "drift": GroupSensors.drift,
    "mean_hops": GroupSensors.mean_hops,
    "mean_fanout": GroupSensors.mean_fanout,
}
SENSOR_NAMES: Final = tuple(SENSORS)
