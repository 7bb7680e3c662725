"""Rules for the benchmark's traffic: one fleet, every pair allowed, and a chain that lets it pass.

The filters are all on, with their default settings except for limits far
above the benchmark's rates, so every message is evaluated by every filter
and none is held or diverted:
what the benchmark measures is the cost of evaluating them, not what they
stop. The conformity damper reads its sensor on every stance post (trigger
``sensor``) with a threshold the sensor cannot exceed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgspec

from bus.rules.schema import EdgeRule, GroupSpec, RulesFile
from filters.breaker import BreakerConfig
from filters.conformity import ConformityConfig
from filters.echo import EchoConfig
from filters.homeostat import HomeostatConfig
from filters.hops import HopsConfig
from filters.pingpong import PingPongConfig
from filters.rate import RateConfig

FLEET = "bench"

# Defaults except where a default would hold or divert benchmark traffic;
# per-key caps sit above the 20,000 active edges of the in-process curves.
FULL_CHAIN = (
    HopsConfig(),
    RateConfig(rate=1e9, burst=1_000_000, per="edge", max_keys=100_000),
    EchoConfig(),
    PingPongConfig(threshold=1_000_000, max_pairs=100_000),
    BreakerConfig(min_volume=1_000_000, max_senders=20_000),
    ConformityConfig(trigger="sensor", threshold=1.0),
    HomeostatConfig(setpoint=1e9, max_rate=1e9, min_rate=1e8, burst=1_000_000),
)


def with_full_chain(rules: RulesFile) -> RulesFile:
    return msgspec.structs.replace(rules, filters=FULL_CHAIN)


def fleet_rules(agents: Sequence[str], *, full_chain: bool) -> RulesFile:
    """``agents`` in one group where everyone may message everyone else."""
    rules = RulesFile(
        version=1,
        groups={FLEET: GroupSpec(members=tuple(agents))},
        edges=(EdgeRule(name="fleet-mesh", from_=FLEET, to=FLEET),),
    )
    return with_full_chain(rules) if full_chain else rules


def write_rules(path: Path, rules: RulesFile) -> Path:
    """Write ``rules`` as a YAML rules file that ``load_rules`` reads back."""
    path.write_bytes(msgspec.yaml.encode(rules))
    return path
