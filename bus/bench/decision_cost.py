"""Per-message cost of deciding, in process, as the fleet grows.

Runs the real engine (policy, the full filter chain, sensors) on synthetic
envelopes — no broker — for fleets of 10 to 10,000 agents and topologies of
100 to 1,000,000 edges, and reports microseconds per message and the
resident memory the compiled policy and the per-pair state take. Flat
figures across a curve mean the per-message work does not grow with the
fleet; nothing here asserts a speed.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time

import msgspec

from bus.bench_policy import _rss_bytes, synthetic_rules
from bus.engine.engine import Engine
from bus.envelope import Envelope
from bus.policy.compile import compile_policy
from bus.policy.holder import PolicyHolder
from bus.rules.schema import RulesFile
from bus.sensors import SensorHub
from filters.breaker import BreakerConfig
from filters.echo import EchoConfig
from filters.homeostat import HomeostatConfig
from filters.hops import HopsConfig
from filters.pingpong import PingPongConfig
from filters.rate import RateConfig

# Every filter on, with limits high enough that the benchmark traffic passes:
# the point is what evaluating them costs, not what they stop.
FULL_CHAIN = (
    HopsConfig(max_hops=8),
    RateConfig(rate=1e9, burst=1_000_000, per="edge", max_keys=2_000_000),
    EchoConfig(window=10.0, max_entries=200_000),
    PingPongConfig(threshold=1_000_000, max_pairs=2_000_000),
    BreakerConfig(min_volume=1_000_000, max_senders=20_000),
    HomeostatConfig(setpoint=1e9, max_rate=1e9, min_rate=1e8, burst=1_000_000),
)


def with_full_chain(rules: RulesFile) -> RulesFile:
    return msgspec.structs.replace(rules, filters=FULL_CHAIN)


async def _cost(rules: RulesFile, messages: int, seed: int) -> tuple[float, int]:
    gc.collect()
    before = _rss_bytes()
    policy = compile_policy(rules, check=False)
    holder = PolicyHolder(policy)
    engine = Engine(holder, sensors=SensorHub())
    rng = random.Random(seed)
    names = policy.agents
    envelopes = []
    neighbours = {name: policy.recipients(Envelope(sender=name, payload=None)).resolved
                  for name in names}
    senders = [name for name in names if neighbours[name]]
    for i in range(messages):
        sender = rng.choice(senders)
        # A permitted recipient, so every message runs the whole chain.
        recipient = rng.choice(neighbours[sender])
        envelopes.append(
            Envelope(sender=sender, payload=b'{"n": %d}' % i, recipients=(recipient,),
                     kind="handoff", stance=rng.choice(("a", "b")))
        )
    for env in envelopes[: messages // 10]:
        await engine.handle(env)
    started = time.perf_counter()
    for env in envelopes:
        await engine.handle(env)
    elapsed = time.perf_counter() - started
    return elapsed / messages * 1e6, _rss_bytes() - before


def curve(
    points: list[tuple[int, int]], messages: int = 20_000, seed: int = 0
) -> list[dict[str, float | int]]:
    """(agents, edges) → µs per message and memory, through the full chain."""
    rows: list[dict[str, float | int]] = []
    for agents, edges in points:
        rules = with_full_chain(synthetic_rules(agents, edges, seed))
        micros, rss = asyncio.run(_cost(rules, messages, seed))
        rows.append({"agents": agents, "edges": edges, "us_per_message": round(micros, 2),
                     "rss_mib": round(rss / 2**20, 1),
                     "bytes_per_edge": round(rss / max(edges, 1), 1)})
    return rows
