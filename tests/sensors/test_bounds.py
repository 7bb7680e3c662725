"""The sensors' algorithmic bounds: work per message and state do not grow with the group.

Work is measured by counting the Python lines the sensors execute (a
deterministic operation count, unlike wall time): the same script of
messages costs exactly the same number of lines in a group of 10 members
and in a group of 10,000. State is measured by the sizes of every table
after far more agents and pairs than the caps allow.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import bus.sensors
from bus.clock import FakeClock
from bus.envelope import Envelope
from bus.sensors import PerAgentMetrics, SensorHub, SensorsConfig
from bus.sensors.bench import measure
from bus.sensors.group import FANOUT_PENDING_CAPACITY

SENSORS_DIR = str(Path(bus.sensors.__file__).parent)
STANCES = ("A", "B", "C")


def populated_hub(members: int) -> tuple[SensorHub, FakeClock]:
    """Ten core members m0..m9 that hold stances, padded with silent members
    who send stanceless messages among themselves: the tallies the script
    touches are identical at every size, only the tables are larger."""
    clock = FakeClock(0.0)
    config = SensorsConfig(max_agents_per_group=20_000, max_edges_per_group=20_000,
                           per_agent=PerAgentMetrics(enabled=True))
    hub = SensorHub(config, clock)
    for i in range(10):
        env = Envelope(sender=f"m{i}", payload=None, stance=STANCES[i % 3])
        hub.observe_sent(env, "g", 0.0)
        hub.observe_delivered(env, f"m{(i + 1) % 10}", "g", 0.0)
    padding = members - 10
    for i in range(padding):
        env = Envelope(sender=f"p{i}", payload=None)
        hub.observe_sent(env, "g", 0.0)
        hub.observe_delivered(env, f"p{(i + 1) % padding}", "g", 0.0)
    clock.advance(10.0)
    hub.value("g", "consensus")  # settle the lazily derived values before counting
    assert len(dict(hub.current_groups())["g"].agents) == members
    return hub, clock


def script() -> list[tuple[Envelope, tuple[str, ...]]]:
    """The same conversation among m0..m9 whatever the group's size: stance
    changes, exposures, reverts, ping-pong, and time crossing intervals."""
    out = []
    for step in range(300):
        sender = f"m{step % 10}"
        stance = STANCES[(step // 7) % 3]
        recipients = (f"m{(step + 1) % 10}", f"m{(step + 3) % 10}", "#room")
        out.append((Envelope(sender=sender, payload=None, stance=stance, hops=step % 5,
                             msg_id=f"id{step}"), recipients))
    return out


def lines_per_message(hub: SensorHub, clock: FakeClock) -> list[int]:
    counts: list[int] = []
    current = 0

    def local(frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        nonlocal current
        if event == "line":
            current += 1
        return local

    def tracer(frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        return local if frame.f_code.co_filename.startswith(SENSORS_DIR) else None

    for env, recipients in script():
        clock.advance(0.25)
        now = clock.now()
        current = 0
        sys.settrace(tracer)
        try:
            hub.observe_sent(env, "g", now)
            for recipient in recipients:
                hub.observe_delivered(env, recipient, "g", now)
            hub.value("g", "conformity_rate")
            hub.value("g", "consensus")
            hub.majority_stance("g")
        finally:
            sys.settrace(None)
        counts.append(current)
    return counts


def test_work_per_message_is_the_same_for_10_and_10000_members() -> None:
    small = lines_per_message(*populated_hub(10))
    large = lines_per_message(*populated_hub(10_000))
    assert sum(small) > 300 * 20  # the tracer really saw the sensors work
    assert large == small


def test_state_stays_within_the_caps_however_many_agents_and_pairs() -> None:
    clock = FakeClock(0.0)
    config = SensorsConfig(max_agents_per_group=1_000, max_edges_per_group=500,
                           max_stances=8)
    hub = SensorHub(config, clock)
    for i in range(20_000):
        clock.advance(0.0001)
        env = Envelope(sender=f"a{i}", payload=None, stance=f"s{i % 50}", msg_id=f"id{i}")
        hub.observe_sent(env, "g", clock.now())
        hub.observe_delivered(env, f"b{i}", "g", clock.now())
    group = dict(hub.current_groups())["g"]
    assert len(group.agents) == 1_000
    assert group.agents.evicted == 40_000 - 1_000  # senders and recipients
    assert len(group.pingpong) == 500
    assert len(group.fanout) <= FANOUT_PENDING_CAPACITY
    assert len(group.tally.counts) <= 8
    assert all(
        len(state.exposure or {}) <= 8 for _, state in group.agents.items()
    )
    assert group.tally.total == sum(group.tally.counts.values())


def test_the_benchmark_runs_at_both_sizes() -> None:
    small = measure(10, 500, repeat=1)
    large = measure(10_000, 500, repeat=1)
    assert (small.tracked, large.tracked) == (10, 10_000)
    assert small.ns_per_message > 0 and large.ns_per_message > 0
