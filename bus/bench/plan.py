"""How much a benchmark run measures: the full run and the quick smoke run."""

from __future__ import annotations

from dataclasses import dataclass

Point = tuple[int, int]  # (agents, edges)
Traffic = tuple[int, int, int]  # (agents, edges, active edges)


@dataclass(frozen=True)
class Plan:
    """Sizes of every phase. ``near_fraction`` of a configuration's own
    saturation rate is where its near-saturation latency is measured (0 skips it)."""

    agents: int
    warmup: int
    saturation: int
    fixed_rate: float
    fixed_seconds: float
    near_fraction: float
    sizes: tuple[int, ...]
    size_budget_bytes: int
    processes_messages: int
    agent_points: tuple[Traffic, ...]
    edge_points: tuple[Traffic, ...]
    active_points: tuple[Traffic, ...]
    decision_messages: int
    compile_points: tuple[Point, ...]
    compile_decisions: int
    timeout: float

    def count_for_size(self, size: int) -> int:
        """Messages of ``size`` bytes in one size-curve burst (bounded in bytes)."""
        return max(500, min(self.saturation, self.size_budget_bytes // size))


FULL = Plan(
    agents=20,
    warmup=4_000,
    saturation=100_000,
    fixed_rate=5_000,
    fixed_seconds=5.0,
    near_fraction=0.8,
    sizes=(100, 250, 1_024, 4_096, 16_384, 65_536),
    size_budget_bytes=256 * 2**20,
    processes_messages=100_000,
    # The fleet and policy curves hold the working set at what their smallest
    # point can carry (90 edges among 10 agents), so only the size of the
    # fleet or of the policy varies; the active-edges curve varies the working set.
    agent_points=((10, 100, 90), (100, 1_000, 90), (1_000, 10_000, 90),
                  (10_000, 100_000, 90)),
    edge_points=((100, 100, 90), (1_000, 10_000, 90), (1_000, 100_000, 90),
                 (1_000, 1_000_000, 90), (10_000, 1_000_000, 90)),
    active_points=((10_000, 1_000_000, 100), (10_000, 1_000_000, 1_000),
                   (10_000, 1_000_000, 5_000), (10_000, 1_000_000, 20_000)),
    decision_messages=20_000,
    compile_points=((1_000, 10_000), (10_000, 100_000), (10_000, 1_000_000)),
    compile_decisions=100_000,
    timeout=300.0,
)

QUICK = Plan(
    agents=8,
    warmup=400,
    saturation=10_000,
    fixed_rate=5_000,
    fixed_seconds=1.0,
    near_fraction=0.0,
    sizes=(100, 65_536),
    size_budget_bytes=64 * 2**20,
    processes_messages=10_000,
    agent_points=((10, 100, 200), (100, 1_000, 200)),
    edge_points=((100, 100, 200), (100, 5_000, 200)),
    active_points=((100, 5_000, 100), (100, 5_000, 1_000)),
    decision_messages=2_000,
    compile_points=((100, 1_000),),
    compile_decisions=5_000,
    timeout=90.0,
)
