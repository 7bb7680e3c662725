"""Benchmark of the sensors' cost per message as the group grows.

Feeds one group a fixed, seeded script of messages (random senders, stances
that change now and then, three recipients each) after filling the group
with ``agents`` members that all hold a stance, and reports the mean wall
time per message (one ``observe_sent`` and its ``observe_delivered`` calls),
best of ``repeat`` runs (the machine is shared: the minimum is the least
disturbed), and the sensors' tracked state. Run it with ``python -m bus.sensors.bench``;
the figures are printed, never asserted (the tests assert the algorithmic
bound by counting executed lines instead).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence

from bus.clock import FakeClock
from bus.envelope import Envelope
from bus.sensors.config import PerAgentMetrics, SensorsConfig
from bus.sensors.hub import SensorHub

STANCES = ("A", "B", "C", "D", "E")
GROUP = "bench"


class BenchResult:
    __slots__ = ("agents", "messages", "ns_per_message", "per_agent", "tracked")

    def __init__(
        self, agents: int, messages: int, ns_per_message: float, tracked: int, per_agent: bool
    ) -> None:
        self.agents = agents
        self.messages = messages
        self.ns_per_message = ns_per_message
        self.tracked = tracked
        self.per_agent = per_agent

    def __str__(self) -> str:
        mode = "per-agent series on " if self.per_agent else "per-agent series off"
        return (
            f"{self.agents:>6} agents, {mode}: {self.ns_per_message / 1000:6.2f} us/message "
            f"({self.messages} messages, 3 deliveries each, {self.tracked} agents tracked)"
        )


def _script(agents: int, messages: int, seed: int) -> list[tuple[Envelope, tuple[str, ...]]]:
    rng = random.Random(seed)
    names = [f"agent-{i}" for i in range(agents)]
    script = []
    for _ in range(messages):
        sender = rng.choice(names)
        stance = rng.choice(STANCES) if rng.random() < 0.2 else STANCES[0]
        recipients = tuple(rng.choice(names) for _ in range(3))
        env = Envelope(sender=sender, payload=b"{}", stance=stance, hops=rng.randrange(4))
        script.append((env, recipients))
    return script


def measure(
    agents: int,
    messages: int = 50_000,
    *,
    per_agent: bool = False,
    seed: int = 7,
    repeat: int = 3,
) -> BenchResult:
    """Mean wall time per message for a group of ``agents`` members."""
    script = _script(agents, messages, seed)
    best = float("inf")
    tracked = 0
    for _ in range(repeat):
        elapsed, tracked = _run(agents, script, per_agent)
        best = min(best, elapsed)
    return BenchResult(agents, messages, best / messages, tracked, per_agent)


def _run(
    agents: int, script: list[tuple[Envelope, tuple[str, ...]]], per_agent: bool
) -> tuple[int, int]:
    clock = FakeClock(0.0)
    config = SensorsConfig(
        max_agents_per_group=max(agents, 10),
        per_agent=PerAgentMetrics(enabled=per_agent),
    )
    hub = SensorHub(config, clock)
    for i in range(agents):  # every member holds a stance before timing starts
        hub.observe_sent(Envelope(sender=f"agent-{i}", payload=None, stance="A"), GROUP, 0.0)
    step = 0.001  # 1,000 messages per second of simulated time: intervals roll over
    started = time.perf_counter_ns()
    for env, recipients in script:
        clock.advance(step)
        now = clock.now()
        hub.observe_sent(env, GROUP, now)
        for recipient in recipients:
            hub.observe_delivered(env, recipient, GROUP, now)
    elapsed = time.perf_counter_ns() - started
    return elapsed, sum(len(group.agents) for _, group in hub.current_groups())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--agents", type=int, nargs="+", default=[10, 10_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    for per_agent in (False, True):
        for agents in args.agents:
            print(measure(agents, args.messages, per_agent=per_agent, repeat=args.repeat))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
