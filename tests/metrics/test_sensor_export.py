"""The sensors' scrape-time collector, read through a fresh Metrics registry."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bus.clock import FakeClock
from bus.envelope import Envelope
from bus.metrics import Metrics
from bus.sensors import PerAgentMetrics, SensorHub, SensorsConfig
from bus.sensors.export import SENSOR_METRICS


def hub_with(config: SensorsConfig | None = None) -> tuple[SensorHub, Metrics, FakeClock]:
    clock = FakeClock(100.0)
    hub = SensorHub(config or SensorsConfig(), clock)
    metrics = Metrics()
    hub.register(metrics)
    return hub, metrics, clock


def say(hub: SensorHub, clock: FakeClock, sender: str, stance: str | None, *to: str,
        group: str = "team") -> None:
    env = Envelope(sender=sender, payload=None, stance=stance, hops=1)
    hub.observe_sent(env, group, clock.now())
    for recipient in to:
        hub.observe_delivered(env, recipient, group, clock.now())


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_gauges_carry_the_same_values_as_the_snapshot() -> None:
    hub, metrics, clock = hub_with()
    say(hub, clock, "a", "A")
    say(hub, clock, "b", "B", "a")
    say(hub, clock, "c", "B", "a")
    say(hub, clock, "a", "B")
    clock.advance(2)
    snapshot = hub.snapshot()["team"]
    assert snapshot["conformity_rate"] == 1.0
    for sensor, value in snapshot.items():
        metric, _ = SENSOR_METRICS[sensor]
        assert sample(metrics, metric, group="team") == pytest.approx(value), sensor


def test_undefined_sensors_are_absent_not_zero() -> None:
    hub, metrics, clock = hub_with()
    say(hub, clock, "a", "A")
    assert sample(metrics, "membrane_group_consensus_ratio", group="team") == 1.0
    assert sample(metrics, "membrane_group_conformity_ratio", group="team") is None
    assert sample(metrics, "membrane_group_polarisation_ratio", group="team") is None


def test_counters_are_cumulative_beyond_the_window() -> None:
    hub, metrics, clock = hub_with(SensorsConfig(window_seconds=10.0))
    say(hub, clock, "a", "A")
    say(hub, clock, "b", "B", "a")
    say(hub, clock, "a", "B")
    say(hub, clock, "a", "A")
    clock.advance(60)
    assert sample(metrics, "membrane_stance_changes_total", group="team") == 2
    assert sample(metrics, "membrane_conforming_changes_total", group="team") == 1
    assert sample(metrics, "membrane_flips_after_exposure_total", group="team") == 1
    assert sample(metrics, "membrane_stance_reverts_total", group="team") == 1
    assert sample(metrics, "membrane_group_messages_total", group="team") == 4
    assert sample(metrics, "membrane_group_deliveries_total", group="team") == 1
    assert sample(metrics, "membrane_group_conformity_ratio", group="team") is None
    assert sample(metrics, "membrane_group_flips_after_exposure", group="team") == 0


def test_cascade_histograms_and_rejections() -> None:
    hub, metrics, clock = hub_with(SensorsConfig(fanout_settle_seconds=1.0))
    say(hub, clock, "a", None, "b", "c")
    env = Envelope(sender="b", payload=None, stance="x" * 100)
    hub.observe_sent(env, "team", clock.now())
    clock.advance(2)
    assert sample(metrics, "membrane_cascade_hops_count", group="team") == 2
    assert sample(metrics, "membrane_cascade_hops_bucket", group="team", le="0.0") == 1
    assert sample(metrics, "membrane_cascade_hops_bucket", group="team", le="1.0") == 2
    assert sample(metrics, "membrane_cascade_fanout_sum", group="team") == 2
    assert sample(metrics, "membrane_cascade_fanout_bucket", group="team", le="0.0") == 1
    assert sample(metrics, "membrane_cascade_fanout_bucket", group="team", le="+Inf") == 2
    assert sample(metrics, "membrane_stances_rejected_total", group="team",
                  reason="bad-label") == 1


def test_registering_twice_is_refused() -> None:
    hub, metrics, _ = hub_with()
    with pytest.raises(ValueError, match="already registered"):
        hub.register(metrics)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        SensorHub().register(metrics)


def test_per_agent_series_are_off_by_default() -> None:
    hub, metrics, clock = hub_with()
    say(hub, clock, "a", "A")
    text = generate_latest(metrics.registry).decode()
    assert "membrane_agent_messages_per_second" not in text
    assert 'agent="a"' not in text


def agent_series(metrics: Metrics) -> dict[tuple[str, str], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.labels["group"], s.labels["agent"]): s.value
        for family in text_string_to_metric_families(text)
        if family.name == "membrane_agent_messages_per_second"
        for s in family.samples
    }


def test_ten_thousand_agents_export_the_top_n_plus_other_per_group() -> None:
    config = SensorsConfig(per_agent=PerAgentMetrics(enabled=True, top=10),
                           window_seconds=60.0)
    hub, metrics, clock = hub_with(config)
    for i in range(10_000):
        group = f"g{i % 4}"
        # agent i sends (i % 50) + 1 messages: agents 49, 99, ... are the busiest
        for _ in range(i % 50 + 1):
            say(hub, clock, f"agent-{i}", None, group=group)
    series = agent_series(metrics)
    assert len(series) == 10 + 4  # the cap, whatever the fleet
    named = {agent for (_, agent) in series if agent != "other"}
    assert len(named) == 10
    assert all(int(agent.split("-")[1]) % 50 == 49 for agent in named)
    others = {group for (group, agent) in series if agent == "other"}
    assert others == {"g0", "g1", "g2", "g3"}
    total = sum(series.values())
    expected = sum((i % 50 + 1) for i in range(10_000)) / 60.0  # each message adds 1/tau
    assert total == pytest.approx(expected)


def test_an_agent_named_other_is_folded_into_the_aggregate() -> None:
    config = SensorsConfig(per_agent=PerAgentMetrics(enabled=True, top=5))
    hub, metrics, clock = hub_with(config)
    for _ in range(5):
        say(hub, clock, "other", None)
    say(hub, clock, "alice", None)
    series = agent_series(metrics)
    assert set(series) == {("team", "alice"), ("team", "other")}
    assert series[("team", "other")] == pytest.approx(5 / 60.0)
