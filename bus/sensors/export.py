"""Prometheus export of the sensors, computed at scrape time.

A custom collector: the hot path only updates the hub's in-memory state, and
each scrape turns it into metric families (O(groups x sensors), plus
O(agents) when per-agent series are enabled). Names and help texts are here
and documented in docs/metrics.md. An undefined sensor (no data in the
window) is not exported for that group rather than exported as a number.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from bus.sensors.group import (
    CHANGES,
    CONFORMING,
    DELIVERED,
    DIRECT,
    FLIPS,
    PINGPONG,
    REVERTS,
    SENT,
    GroupSensors,
)

if TYPE_CHECKING:
    from bus.sensors.hub import SensorHub

OTHER_AGENTS: Final = "other"

SENSOR_METRICS: Final = {
    "message_rate": ("membrane_group_messages_per_second",
                     "Messages sent per second by the group's members (mean over the window)."),
    "consensus": ("membrane_group_consensus_ratio",
                  "1 - H/ln K over the members' latest stances (1 = everyone agrees)."),
    "modal_share": ("membrane_group_modal_share_ratio",
                    "Share of members holding the most common stance."),
    "conformity_rate": ("membrane_group_conformity_ratio",
                        "Share of the window's stance changes that moved to the majority "
                        "stance the agent had been shown."),
    "flips_after_exposure": ("membrane_group_flips_after_exposure",
                             "Stance changes in the window made after being shown a "
                             "different stance."),
    "polarisation": ("membrane_group_polarisation_ratio",
                     "Esteban-Ray polarisation of numeric stances, normalised to [0, 1]."),
    "revert_rate": ("membrane_group_revert_ratio",
                    "Share of the window's stance changes that revert an A->B->A flip."),
    "pingpong_rate": ("membrane_group_pingpong_ratio",
                      "Share of the window's direct deliveries inside long alternating "
                      "exchanges on one pair."),
    "rate_autocorrelation": ("membrane_group_rate_autocorrelation",
                             "Lag-1 autocorrelation of the per-interval message counts."),
    "rate_zero_crossing": ("membrane_group_rate_zero_crossing_ratio",
                           "Share of sign changes of the message-count series' differences."),
    "drift": ("membrane_group_drift_ratio",
              "Mean distance between members' current and first stances, in [0, 1]."),
    "mean_hops": ("membrane_group_mean_hops",
                  "Mean hop count of the messages sent in the window."),
    "mean_fanout": ("membrane_group_mean_fanout",
                    "Deliveries per message sent in the window."),
}

COUNTERS: Final = (
    (SENT, "membrane_group_messages_total", "Messages sent by the group's members."),
    (DELIVERED, "membrane_group_deliveries_total", "Deliveries to recipients in the group."),
    (DIRECT, "membrane_group_direct_deliveries_total",
     "Deliveries to agents (not shared channels) in the group."),
    (CHANGES, "membrane_stance_changes_total", "Stance changes by the group's members."),
    (CONFORMING, "membrane_conforming_changes_total",
     "Stance changes to the majority stance the agent had been shown."),
    (FLIPS, "membrane_flips_after_exposure_total",
     "Stance changes made after being shown a different stance."),
    (REVERTS, "membrane_stance_reverts_total", "Stance changes reverting an A->B->A flip."),
    (PINGPONG, "membrane_pingpong_exchanges_total",
     "Deliveries inside long alternating exchanges on one pair of agents."),
)


class _Families:
    """The metric families of one scrape, by name, before samples are added."""

    def __init__(self) -> None:
        self.gauges = {
            metric: GaugeMetricFamily(metric, text, labels=["group"])
            for metric, text in SENSOR_METRICS.values()
        }
        self.gauges["membrane_group_agents"] = GaugeMetricFamily(
            "membrane_group_agents", "Agents the sensors track in the group.", labels=["group"]
        )
        self.counters = {
            metric: CounterMetricFamily(metric, text, labels=["group"])
            for _, metric, text in COUNTERS
        }
        self.counters["membrane_sensor_agents_evicted_total"] = CounterMetricFamily(
            "membrane_sensor_agents_evicted_total",
            "Agents dropped from the sensors' table (capacity or idle).",
            labels=["group"],
        )
        self.rejected = CounterMetricFamily(
            "membrane_stances_rejected_total",
            "Stances present but unusable, by reason.",
            labels=["group", "reason"],
        )
        self.hops = HistogramMetricFamily(
            "membrane_cascade_hops",
            "Hop count of messages sent (times already relayed).",
            labels=["group"],
        )
        self.fanout = HistogramMetricFamily(
            "membrane_cascade_fanout",
            "Recipients each sent message was delivered to.",
            labels=["group"],
        )

    def add_group(self, name: str, group: GroupSensors) -> None:
        for sensor, (metric, _) in SENSOR_METRICS.items():
            value = group.read(sensor)
            if value is not None:
                self.gauges[metric].add_metric([name], value)
        self.gauges["membrane_group_agents"].add_metric([name], len(group.agents))
        for field, metric, _ in COUNTERS:
            self.counters[metric].add_metric([name], group.window.cumulative[field])
        self.counters["membrane_sensor_agents_evicted_total"].add_metric(
            [name], group.agents.evicted
        )
        for reason, count in group.rejected.items():
            self.rejected.add_metric([name, reason], count)
        self.hops.add_metric([name], group.hops.cumulative(), group.hops.total)
        histogram = group.fanout.histogram
        self.fanout.add_metric([name], histogram.cumulative(), histogram.total)

    def __iter__(self) -> Iterator[Metric]:
        yield from self.gauges.values()
        yield from self.counters.values()
        yield from (self.rejected, self.hops, self.fanout)


class SensorCollector(Collector):
    def __init__(self, hub: SensorHub) -> None:
        self._hub = hub

    def describe(self) -> Iterator[Metric]:
        yield from _Families()
        if self._hub.config.per_agent.enabled:
            yield _agent_family()

    def collect(self) -> Iterator[Metric]:
        families = _Families()
        groups = list(self._hub.current_groups())
        for name, group in groups:
            families.add_group(name, group)
        yield from families
        if self._hub.config.per_agent.enabled:
            yield self._agent_rates(groups)

    def _agent_rates(self, groups: list[tuple[str, GroupSensors]]) -> Metric:
        """Top agents by decayed message rate; the rest of each group as ``other``."""
        family = _agent_family()
        now = self._hub.now()
        tau = self._hub.config.window_seconds
        rates: list[tuple[float, str, str]] = []
        rest: dict[str, float] = {}
        for name, group in groups:
            rest[name] = 0.0
            for agent, state in group.agents.items():
                rate = state.rate_now(now, tau)
                if agent == OTHER_AGENTS:  # would collide with the aggregate series
                    rest[name] += rate
                else:
                    rates.append((rate, name, agent))
        top = heapq.nlargest(self._hub.config.per_agent.top, rates)
        chosen = {(name, agent) for _, name, agent in top}
        for rate, name, agent in rates:
            if (name, agent) not in chosen:
                rest[name] += rate
        for rate, name, agent in top:
            family.add_metric([name, agent], rate)
        for name, rate in rest.items():
            family.add_metric([name, OTHER_AGENTS], rate)
        return family


def _agent_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "membrane_agent_messages_per_second",
        "Decayed message rate of the busiest agents; the rest of a group as agent=other.",
        labels=["group", "agent"],
    )
