"""Benchmark of the compiled policy: compile time, memory and decision speed.

``measure`` builds a synthetic rules file — ``agents`` agents in one fleet
group wired by a ``random_k_out`` preset of ``edges`` edges, split into
teams with group-level rules, a constitution, and per-team agent patterns —
then reports how long validation and compilation take, how much resident
memory the compiled policy adds, and how many decisions per second it
makes. The same decisions are timed against a tiny policy, and against the
fleet with thousands of group-level rules, to show how the per-decision cost
depends on the number of rules and agents.

Run ``python -m bus.bench_policy`` to print the figures. Nothing here
asserts a speed: the figures are for reports.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bus.envelope import Envelope
from bus.policy.compile import compile_policy
from bus.policy.policy import Policy
from bus.rules.presets import RandomKOutPreset
from bus.rules.schema import ConstitutionRule, EdgeRule, GroupSpec, RulesFile
from bus.rules.validate import validate

TEAM_SIZE = 1_000


@dataclass(frozen=True)
class PolicyBenchResult:
    agents: int
    edges: int
    rules: int
    validate_seconds: float
    compile_seconds: float
    rss_added_mib: float
    decisions: int
    decisions_per_second: float
    decision_ns: float
    small_policy_decision_ns: float
    many_rules: int
    many_rules_compile_seconds: float
    many_rules_decision_ns: float
    allowed_share: float


def synthetic_rules(
    agents: int, edges: int, seed: int = 0, team_size: int = TEAM_SIZE
) -> RulesFile:
    """A fleet of ``agents`` with a random k-out topology of about ``edges`` edges,
    split into teams of ``team_size`` (a power of ten) by id pattern, with one
    group-level rule from each team to the next."""
    if agents < 2:
        raise ValueError("the benchmark needs at least 2 agents")
    if team_size not in (10, 100, 1_000, 10_000):
        raise ValueError("team_size must be 10, 100, 1000 or 10000")
    k = max(1, min(agents - 1, edges // agents))
    names = tuple(f"agent-{i:06d}" for i in range(agents))
    teams = max(1, -(-agents // team_size))
    digits = 6 - len(str(team_size)) + 1
    groups = {"fleet": GroupSpec(members=names)}
    for t in range(teams):
        groups[f"team-{t}"] = GroupSpec(patterns=(f"agent-{t:0{digits}d}*",))
    groups["visitors"] = GroupSpec(patterns=("visitor-*",))
    team_edges = tuple(
        EdgeRule(
            name=f"team-{t}-to-team-{(t + 1) % teams}",
            from_=f"team-{t}",
            to=f"team-{(t + 1) % teams}",
            kinds=("handoff",),
        )
        for t in range(teams)
    )
    return RulesFile(
        version=1,
        groups=groups,
        topology=(RandomKOutPreset(group="fleet", k=k, seed=seed, name="fleet-mesh"),),
        edges=(
            *team_edges,
            EdgeRule(name="visitors-ask", from_="visitor-*", to="team-0", kinds=("question",)),
            EdgeRule(name="no-secrets", from_="*", to="visitors", action="deny", kinds=("secret",)),
        ),
        constitution=(
            ConstitutionRule(name="hop-limit", max_hops=8),
            ConstitutionRule(name="size-limit", max_bytes=1_000_000),
        ),
    )


def _rss_bytes() -> int:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    import os

    return pages * os.sysconf("SC_PAGE_SIZE")


def _time_decisions(policy: Policy, cases: list[tuple[str, str, str]]) -> tuple[float, int]:
    """Seconds spent deciding every (sender, recipient, kind), and how many were allowed."""
    prepared = [(Envelope(sender=s, payload=b"x" * 64, kind=k), r) for s, r, k in cases]
    allowed = 0
    started = time.perf_counter()
    for env, target in prepared:
        allowed += policy.decide(env, target).allowed
    return time.perf_counter() - started, allowed


def _random_cases(policy: Policy, count: int, rng: random.Random) -> list[tuple[str, str, str]]:
    names = policy.agents
    kinds = ("task", "handoff", "secret")
    return [(rng.choice(names), rng.choice(names), rng.choice(kinds)) for _ in range(count)]


def measure(
    agents: int = 10_000, edges: int = 1_000_000, decisions: int = 200_000, seed: int = 0
) -> PolicyBenchResult:
    rules = synthetic_rules(agents, edges, seed)
    gc.collect()
    started = time.perf_counter()
    report = validate(rules)
    validate_seconds = time.perf_counter() - started
    if report.errors:
        raise RuntimeError(f"synthetic rules are invalid: {report.errors[0].message}")
    gc.collect()
    rss_before = _rss_bytes()
    started = time.perf_counter()
    policy = compile_policy(rules, check=False)
    compile_seconds = time.perf_counter() - started
    rss_added = _rss_bytes() - rss_before

    rng = random.Random(seed)
    cases = _random_cases(policy, decisions, rng)
    _time_decisions(policy, cases[:20_000])  # fill the class cache first
    elapsed, allowed = _time_decisions(policy, cases)

    small = compile_policy(synthetic_rules(20, 60, seed), check=False)
    small_cases = _random_cases(small, decisions, rng)
    _time_decisions(small, small_cases[:1_000])
    small_elapsed, _ = _time_decisions(small, small_cases)

    # The same fleet in teams of ten: a thousand group-level rules and rule
    # classes, and a class-pair cache that uniformly random traffic keeps
    # missing, which is the worst case for amortisation.
    heavy_rules = synthetic_rules(agents, edges, seed, team_size=10)
    started = time.perf_counter()
    heavy = compile_policy(heavy_rules, check=False)
    heavy_compile = time.perf_counter() - started
    heavy_cases = _random_cases(heavy, decisions, rng)
    heavy_elapsed, _ = _time_decisions(heavy, heavy_cases)

    return PolicyBenchResult(
        agents=agents,
        edges=policy.edge_count,
        rules=len(rules.edges) + len(rules.constitution) + len(rules.topology),
        validate_seconds=round(validate_seconds, 3),
        compile_seconds=round(compile_seconds, 3),
        rss_added_mib=round(rss_added / 2**20, 1),
        decisions=decisions,
        decisions_per_second=round(decisions / elapsed),
        decision_ns=round(elapsed / decisions * 1e9),
        small_policy_decision_ns=round(small_elapsed / decisions * 1e9),
        many_rules=len(heavy_rules.edges),
        many_rules_compile_seconds=round(heavy_compile, 3),
        many_rules_decision_ns=round(heavy_elapsed / decisions * 1e9),
        allowed_share=round(allowed / decisions, 4),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--edges", type=int, default=1_000_000)
    parser.add_argument("--decisions", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = measure(args.agents, args.edges, args.decisions, args.seed)
    for name, value in asdict(result).items():
        print(f"{name:26} {value}")


if __name__ == "__main__":
    main()
