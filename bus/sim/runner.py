"""Repeating runs over conditions and seeds.

A ``Condition`` is one configuration of a scenario (a topology and a noise
level, a damper, a damping kit...), labelled by the columns it is reported
under, with a function that builds its swarm for a seed. Repeat i of every
condition uses seed ``seed + i``: the conditions are compared on the same
random draws (common random numbers), so their differences are not noise
from different draws.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

from bus.errors import MembraneError
from bus.sim.harness import run_kafka, run_local
from bus.sim.play import RunRecord
from bus.sim.scenario import Swarm

Backend = Literal["kafka", "local"]
Progress = Callable[["RunResult", int, int], None]


class Condition:
    """``labels``: column name → value (in table order); ``build(seed)`` makes the swarm."""

    __slots__ = ("build", "labels")

    def __init__(self, labels: Mapping[str, str], build: Callable[[int], Swarm]) -> None:
        self.labels = dict(labels)
        self.build = build

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(self.labels.values())

    def __repr__(self) -> str:
        return f"Condition({self.labels!r})"


class RunResult:
    __slots__ = ("condition", "problems", "record", "seed")

    def __init__(self, condition: Condition, seed: int, record: RunRecord) -> None:
        self.condition = condition
        self.seed = seed
        self.record = record
        self.problems = record.ledger.check()


class AccountingError(MembraneError):
    """A run's books did not balance: a message was lost or duplicated."""


async def run_one(condition: Condition, seed: int, *, backend: Backend,
                  bootstrap: str | None = None) -> RunResult:
    swarm = condition.build(seed)
    with tempfile.TemporaryDirectory(prefix="membrane-sim-") as workdir:
        if backend == "local":
            record = await run_local(swarm, Path(workdir))
        else:
            record = await run_kafka(swarm, Path(workdir), bootstrap=bootstrap)
    result = RunResult(condition, seed, record)
    if result.problems:
        shown = "; ".join(result.problems[:3])
        raise AccountingError(
            f"{condition.labels} seed {seed}: {len(result.problems)} accounting problems: {shown}")
    return result


async def run_all(conditions: Sequence[Condition], *, seed: int, repeats: int,
                  backend: Backend = "kafka", bootstrap: str | None = None,
                  progress: Progress | None = None) -> list[RunResult]:
    """Every condition for every repeat (repeats outermost, so a partial run already
    covers every condition); raises ``AccountingError`` when a message is lost."""
    results: list[RunResult] = []
    total = len(conditions) * repeats
    for repeat in range(repeats):
        for condition in conditions:
            result = await run_one(condition, seed + repeat, backend=backend,
                                   bootstrap=bootstrap)
            results.append(result)
            if progress is not None:
                progress(result, len(results), total)
    return results
