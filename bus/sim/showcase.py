"""The swarm ``membrane demo`` plays: a herd forming and loops starting, in one group of agents.

Twenty respondents answer a question in turn, four confederates first
(``bus.sim.pressure``), everyone seeing everyone; beside them two polite
agents thank each other and three agents delegate a task round a cycle
(``bus.sim.loops``). The same swarm, seed for seed, is played twice: with
rules that only wire the topology, and with membrane's damping on top — the
conformity damper (sequester) on the respondents, hop/cycle limits and
ping-pong damping on the others.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from bus.sim.loops import Delegator, Polite
from bus.sim.pressure import CORRECT, PressureParams, PressureSwarm
from bus.sim.rulesets import Topology
from bus.sim.scenario import Agent, Rules

RESPONDENTS = 20
CONFEDERATES = 4
ROUNDS = 60
HERD, LOOPERS = "herd", "loopers"


def showcase_rules(respondents: Sequence[str], loopers: Sequence[str], damped: bool,
                   seed: int) -> Rules:
    rules: Rules = {
        "version": 1,
        "groups": {HERD: {"members": list(respondents)}, LOOPERS: {"members": list(loopers)}},
        "topology": [Topology(name="full").preset(HERD, seed)],
        "edges": [{"name": "loop-peers", "from": LOOPERS, "to": LOOPERS}],
        "sensors": {"window_seconds": float(ROUNDS)},
    }
    if damped:
        filters: list[dict[str, Any]] = [
            {"filter": "conformity", "sequester": True, "round_timeout": float(RESPONDENTS + 1),
             "poll_interval": 0.25, "attach": {"groups": [HERD]}},
            {"filter": "hops", "max_hops": 6, "forbid_cycles": True,
             "attach": {"groups": [LOOPERS]}},
            {"filter": "pingpong", "threshold": 4, "base_delay": 1.0, "jitter": 0.0,
             "max_delay": 8.0, "attach": {"groups": [LOOPERS]}},
        ]
        rules["filters"] = filters
    return rules


class ShowcaseSwarm:
    """Respondents plus loopers; ``damped`` adds membrane's damping filters."""

    def __init__(self, damped: bool, seed: int) -> None:
        params = PressureParams(agents=RESPONDENTS, confederates=CONFEDERATES, passes=2,
                                topology=Topology(name="full"))
        self._pressure = PressureSwarm(params, seed)
        roles = ["planner", "researcher", "writer"]
        self._loopers: list[Polite | Delegator] = [
            Polite("polite-a", opener="polite-b"), Polite("polite-b"),
            *(Delegator(r, roles[(i + 1) % 3], starts=i == 0) for i, r in enumerate(roles))]
        self.agents: Sequence[Agent] = [*self._pressure.agents, *self._loopers]
        self.rules: Rules = showcase_rules([a.name for a in self._pressure.agents],
                                           [a.name for a in self._loopers], damped, seed)
        self.rounds = ROUNDS
        self.seconds_per_round = 1.0

    def observe(self, round_no: int) -> Mapping[str, float]:
        respondents = self._pressure.respondents
        honest = [r for r in respondents if not r.stubborn]
        (answer, count), = Counter(r.answer for r in respondents).most_common(1)
        return {
            "accuracy": statistics.fmean(r.answer == CORRECT for r in honest),
            "herd": count / len(respondents),
            "herd_answer": float(ord(answer) - ord("A")),
            "switches": float(sum(r.switches for r in honest)),
            "loop_messages": float(sum(a.sent for a in self._loopers)),
        }

    def summary(self) -> Mapping[str, float]:
        return dict(self._pressure.summary())
