"""Homeostat: PID set-point control of a group's admission rate, gauges, invariants."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.clock import FakeClock
from bus.metrics import Metrics
from bus.verdict import FORWARD, Delay, Divert
from filters.base import FilterContext
from filters.homeostat import HomeostatConfig, HomeostatFilter
from filters.pid import PidController


def homeostat(**fields: object) -> HomeostatConfig:
    return msgspec.convert({"filter": "homeostat", "name": "calm", **fields}, HomeostatConfig)


def gauge(metrics: Metrics, name: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"filter": "calm", "group": "g"})


async def test_a_calm_group_is_admitted_at_the_maximum_rate(
    clock: FakeClock, ctx: FilterContext, sensors, make_env
) -> None:
    flt = HomeostatFilter(homeostat(setpoint=10.0, max_rate=50.0, burst=5), clock)
    sensors.values[("g", "message_rate")] = 4.0
    for _ in range(5):
        assert await flt.decide(make_env("a"), "b", ctx) is FORWARD
        clock.advance(1.0)
    assert flt.output("g") == 50.0


async def test_a_group_above_its_set_point_is_throttled_down_to_the_minimum(
    clock: FakeClock, ctx: FilterContext, sensors, make_env
) -> None:
    metrics = Metrics()
    config = homeostat(setpoint=10.0, band=1.0, min_rate=2.0, max_rate=50.0, burst=1,
                       max_delay=1.0)
    flt = HomeostatFilter(config, clock)
    flt.bind_metrics(metrics)
    sensors.values[("g", "message_rate")] = 80.0  # far above, and it stays there
    outputs = []
    for _ in range(30):
        clock.advance(1.0)
        await flt.decide(make_env("a"), "b", ctx)
        outputs.append(flt.output("g"))
    assert outputs == sorted(outputs, reverse=True)
    assert outputs[0] < 50.0 and outputs[-1] == 2.0
    assert gauge(metrics, "membrane_homeostat_setpoint") == 10.0
    assert gauge(metrics, "membrane_homeostat_measured") == 80.0
    assert gauge(metrics, "membrane_homeostat_output") == 2.0
    # At 2/s with a burst of 1: the next message waits half a second, the one after
    # a full second, and one more would wait too long.
    verdicts = [await flt.decide(make_env("a"), "b", ctx) for _ in range(3)]
    assert verdicts[0] == Delay(0.5, "homeostat")
    assert verdicts[1] == Delay(1.0, "homeostat")
    assert isinstance(verdicts[2], Divert) and verdicts[2].reason == "homeostat"


async def test_inside_the_hysteresis_band_the_output_holds_still(
    clock: FakeClock, ctx: FilterContext, sensors, make_env
) -> None:
    flt = HomeostatFilter(homeostat(setpoint=10.0, band=2.0, max_rate=30.0), clock)
    sensors.values[("g", "message_rate")] = 11.5
    for _ in range(10):
        clock.advance(1.0)
        await flt.decide(make_env("a"), "b", ctx)
    assert flt.output("g") == 30.0


def test_config_is_checked() -> None:
    with pytest.raises(msgspec.ValidationError, match="min_rate"):
        homeostat(min_rate=5.0, max_rate=1.0)
    with pytest.raises(msgspec.ValidationError, match="both be 0"):
        homeostat(kp=0.0, ki=0.0)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=60),
    st.floats(min_value=0.0, max_value=10.0),
    st.floats(min_value=0.0, max_value=10.0),
    st.floats(min_value=0.0, max_value=10.0),
    st.floats(min_value=0.1, max_value=50.0),
    st.floats(min_value=0.0, max_value=500.0),
)
def test_the_output_never_leaves_its_limits(
    measurements: list[float], kp: float, ki: float, kd: float, low: float, span: float
) -> None:
    controller = PidController(setpoint=20.0, kp=kp, ki=ki, kd=kd, low=low, high=low + span,
                               band=1.0)
    for measured in measurements:
        assert low <= controller.update(measured, 0.5) <= low + span


@settings(max_examples=120, deadline=None)
@given(
    st.floats(min_value=0.25, max_value=1.5),  # plant gain: sensor units per admitted msg/s
    st.floats(min_value=0.2, max_value=1.0),  # plant responsiveness per control interval
    st.floats(min_value=0.1, max_value=0.9),  # the set-point, as a share of the reachable
    st.floats(min_value=0.0, max_value=40.0),  # the sensor's level before the step
)
def test_the_loop_settles_on_the_set_point_after_a_step(
    gain: float, response: float, reachable_share: float, before: float
) -> None:
    """A first-order plant: the sensor moves towards ``gain * output`` each interval.

    The set-point steps from ``before`` to ``setpoint``; defaults of the filter
    (kp 0.3, ki 0.5 per second, 1 s interval) must bring the sensor within the
    hysteresis band and keep it there, with the output inside its limits.
    """
    config = HomeostatConfig()
    low, high = 1.0, 100.0
    setpoint = reachable_share * gain * high
    band = 0.05 * setpoint
    controller = PidController(setpoint=before, kp=config.kp, ki=config.ki, low=low,
                               high=high, band=band)
    measured = before
    for _ in range(50):
        measured += response * (gain * controller.update(measured, 1.0) - measured)
    controller.setpoint = setpoint
    trace = []
    for _ in range(200):
        output = controller.update(measured, 1.0)
        assert low <= output <= high
        measured += response * (gain * output - measured)
        trace.append(measured)
    assert all(abs(m - setpoint) <= band for m in trace[-20:])
