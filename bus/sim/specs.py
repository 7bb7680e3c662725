"""The scenarios as the ``membrane sim`` command knows them: options, defaults,
the conditions compared, the columns reported and the figure drawn.

Lists are given comma-separated (``--topology full,ring --noise 0,0.2``);
every condition is run ``--repeats`` times with seeds ``--seed``,
``--seed + 1``, ...
"""

from __future__ import annotations

import abc
import argparse
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import msgspec

from bus.errors import ConfigError
from bus.sim import figures
from bus.sim.collective import CollectiveParams, CollectiveSwarm
from bus.sim.loops import PATTERNS, LoopParams, LoopSwarm
from bus.sim.pressure import DAMPERS, PressureParams, PressureSwarm
from bus.sim.report import Aggregate
from bus.sim.rulesets import TOPOLOGIES, Topology
from bus.sim.runner import Condition
from bus.sim.scenario import Swarm

P = TypeVar("P")

KITS = ("none", "rate", "hops", "pingpong", "breaker", "all")
ALL_FILTERS = ("breaker", "hops", "pingpong", "rate")


def text_list(value: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list")
    return items


def float_list(value: str) -> list[float]:
    try:
        return [float(v) for v in text_list(value)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a list of numbers") from None


def _choose(values: Sequence[str], allowed: Sequence[str], what: str) -> list[str]:
    for value in values:
        if value not in allowed:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {value!r}; choose from {', '.join(allowed)}")
    return list(values)


def params(kind: type[P], values: dict[str, Any]) -> P:
    """Scenario parameters from command-line values, validated like a rules file."""
    try:
        return msgspec.convert(values, kind)
    except msgspec.ValidationError as exc:
        raise ConfigError(str(exc)) from None


def _topologies(args: argparse.Namespace, names: Sequence[str]) -> list[Topology]:
    chosen = _choose(names, TOPOLOGIES, "topology")
    return [params(Topology, {"name": n, "degree": args.degree, "rewire": args.rewire})
            for n in chosen]


def _condition(labels: Mapping[str, str], swarm: Callable[[P, int], Swarm], kind: type[P],
               values: dict[str, Any]) -> Condition:
    """One compared condition: its labels in the table, and its swarm for a seed,
    built from ``values`` validated once, before any run starts."""
    validated = params(kind, values)
    return Condition(labels, lambda seed: swarm(validated, seed))


def _word(value: object) -> str:
    """An option's value as the command line spells it."""
    if isinstance(value, list | tuple):
        return ",".join(_word(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


class Spec(abc.ABC):
    """One scenario's command-line face.

    ``defaults`` holds the options whose default depends on the scenario
    (their parser default is empty); ``reported`` lists, in order, the
    options that ``options`` writes back as a command line.
    """

    name = ""
    title = ""
    metrics: tuple[str, ...] = ()
    series_metric: str | None = None
    default_repeats = 1
    defaults: ClassVar[Mapping[str, Any]] = {}
    reported: tuple[str, ...] = ()

    def given(self, args: argparse.Namespace, option: str) -> Any:
        """The option's value, or this scenario's default when it is not given."""
        return getattr(args, option) or self.defaults[option]

    def options(self, args: argparse.Namespace) -> list[str]:
        """The scenario's effective options, as a command line that reruns it."""
        words = []
        for option in self.reported:
            value = self.given(args, option) if option in self.defaults else getattr(args, option)
            words += ["--" + option.replace("_", "-"), _word(value)]
        return words

    @abc.abstractmethod
    def conditions(self, args: argparse.Namespace) -> list[Condition]:
        """The conditions compared, in table order."""

    @abc.abstractmethod
    def figure(self, groups: Sequence[Aggregate], path: Path, args: argparse.Namespace) -> Path:
        """Draw the scenario's figure into ``path``."""


class CollectiveSpec(Spec):
    name = "collective"
    title = "Collective learning: mean error by topology and noise"
    metrics = ("error", "decided", "peers", "delivered")
    series_metric = "error"
    default_repeats = 5
    defaults: ClassVar[Mapping[str, Any]] = {
        "topology": ["full", "ring", "small_world"], "noise": [0.0, 0.1, 0.2, 0.3],
        "agents": 100, "rounds": 500}
    reported = ("topology", "noise", "agents", "propositions", "rounds", "evidence_rate",
                "fusion_rate", "degree", "rewire")

    def conditions(self, args: argparse.Namespace) -> list[Condition]:
        out = []
        for noise in self.given(args, "noise"):
            for topology in _topologies(args, self.given(args, "topology")):
                values = {
                    "agents": self.given(args, "agents"), "propositions": args.propositions,
                    "evidence_rate": args.evidence_rate, "fusion_rate": args.fusion_rate,
                    "noise": noise, "rounds": self.given(args, "rounds"),
                    "topology": msgspec.to_builtins(topology)}
                out.append(_condition({"topology": topology.label, "noise": f"{noise:g}"},
                                      CollectiveSwarm, CollectiveParams, values))
        return out

    def figure(self, groups: Sequence[Aggregate], path: Path, args: argparse.Namespace) -> Path:
        return figures.collective(groups, path, self.title)


class PressureSpec(Spec):
    name = "pressure"
    title = "Peer pressure: accuracy, conformity and vulnerability"
    metrics = ("accuracy", "private_accuracy", "conformity_rate", "vulnerability_rate", "herd",
               "delivered", "quarantined")
    series_metric = "accuracy"
    default_repeats = 10
    defaults: ClassVar[Mapping[str, Any]] = {
        "topology": ["full", "ring"], "damper": list(DAMPERS), "agents": 30}
    reported = ("topology", "damper", "agents", "confederates", "p_correct", "passes", "degree",
                "rewire")

    def conditions(self, args: argparse.Namespace) -> list[Condition]:
        out = []
        dampers = _choose(self.given(args, "damper"), DAMPERS, "damper")
        for topology in _topologies(args, self.given(args, "topology")):
            for damper in dampers:
                values = {
                    "agents": self.given(args, "agents"), "confederates": args.confederates,
                    "p_correct": args.p_correct, "passes": args.passes,
                    "topology": msgspec.to_builtins(topology), "damper": damper}
                out.append(_condition({"topology": topology.label, "damper": damper},
                                      PressureSwarm, PressureParams, values))
        return out

    def figure(self, groups: Sequence[Aggregate], path: Path, args: argparse.Namespace) -> Path:
        return figures.pressure(groups, path, self.title)


class LoopsSpec(Spec):
    name = "loops"
    title = "Runaway loops: messages and tokens, with and without damping"
    metrics = ("delivered", "quarantined", "tokens", "answered", "backlog")
    default_repeats = 3
    defaults: ClassVar[Mapping[str, Any]] = {
        "pattern": list(PATTERNS), "damping": list(KITS), "agents": 10, "rounds": 120}
    reported = ("pattern", "damping", "agents", "rounds")

    def conditions(self, args: argparse.Namespace) -> list[Condition]:
        out = []
        patterns = _choose(self.given(args, "pattern"), PATTERNS, "pattern")
        kits = _choose(self.given(args, "damping"), KITS, "damping")
        for pattern in patterns:
            for kit in kits:
                filters = () if kit == "none" else ALL_FILTERS if kit == "all" else (kit,)
                values = {"pattern": pattern, "rounds": self.given(args, "rounds"),
                          "clients": self.given(args, "agents"), "damping": filters}
                out.append(_condition({"pattern": pattern, "damping": kit},
                                      LoopSwarm, LoopParams, values))
        return out

    def figure(self, groups: Sequence[Aggregate], path: Path, args: argparse.Namespace) -> Path:
        title = ("Runaway loops: messages and tokens in "
                 f"{self.given(args, 'rounds')} s of logical time")
        return figures.loops(groups, path, title)


SPECS: dict[str, Spec] = {s.name: s for s in (CollectiveSpec(), PressureSpec(), LoopsSpec())}


def add_scenario_arguments(parser: argparse.ArgumentParser) -> None:
    collective = parser.add_argument_group("collective")
    collective.add_argument("--noise", type=float_list, help="noise levels ε (default "
                            "0,0.1,0.2,0.3)")
    collective.add_argument("--propositions", type=int, default=100,
                            help="propositions each agent learns about (default 100)")
    collective.add_argument("--evidence-rate", type=float, default=0.1,
                            help="chance per round of observing the world (default 0.1)")
    collective.add_argument("--fusion-rate", type=float, default=1.0,
                            help="chance per round of sending one's belief (default 1)")
    pressure = parser.add_argument_group("pressure")
    pressure.add_argument("--damper", type=text_list,
                          help=f"conformity dampers (default {','.join(DAMPERS)})")
    pressure.add_argument("--confederates", type=int, default=6,
                          help="agents that always give the same wrong answer, first (default 6)")
    pressure.add_argument("--p-correct", type=float, default=0.6,
                          help="chance an honest agent's private answer is right (default 0.6)")
    pressure.add_argument("--passes", type=int, default=2,
                          help="times each agent speaks, in turn (default 2)")
    loops = parser.add_argument_group("loops")
    loops.add_argument("--pattern", type=text_list,
                       help=f"loop patterns (default {','.join(PATTERNS)})")
    loops.add_argument("--damping", type=text_list,
                       help=f"damping kits (default {','.join(KITS)})")
