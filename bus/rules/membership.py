"""Who is in which group: the explicit agents of a rules file and their groups.

An agent is *explicit* when the file names it (under ``agents:`` or in a
group's ``members``); it is *dynamic* when it is known only through a group
pattern such as ``worker-*``. Group membership is the union of the group's
``members``, the agents that list the group, and the explicit agents its
patterns match, in that order — the order presets use. Patterns are found
through a prefix index, so resolving an id does not test every pattern.
"""

from __future__ import annotations

from bus.rules import selectors as sel
from bus.rules.schema import RulesFile


class Membership:
    __slots__ = ("_index", "agents", "groups_of", "members", "patterns")

    def __init__(self, rules: RulesFile) -> None:
        agents: dict[str, None] = dict.fromkeys(rules.agents)
        for group in rules.groups.values():
            agents.update(dict.fromkeys(group.members))
        self.agents: tuple[str, ...] = tuple(agents)
        self.patterns: tuple[tuple[str, str], ...] = tuple(
            (name, pattern) for name, group in rules.groups.items() for pattern in group.patterns
        )
        members: dict[str, dict[str, None]] = {name: {} for name in rules.groups}
        for name, group in rules.groups.items():
            members[name].update(dict.fromkeys(group.members))
        for agent, spec in rules.agents.items():
            for name in spec.groups:
                members.setdefault(name, {})[agent] = None
        self._index = sel.PatternIndex(
            (pattern, (position, name)) for position, (name, pattern) in enumerate(self.patterns)
        )
        if self._index:
            for agent in self.agents:
                for name in self._groups_by_pattern(agent):
                    members[name][agent] = None
        self.members: dict[str, tuple[str, ...]] = {g: tuple(m) for g, m in members.items()}
        groups_of: dict[str, dict[str, None]] = {a: {} for a in self.agents}
        for agent, spec in rules.agents.items():
            groups_of[agent].update(dict.fromkeys(spec.groups))
        for name, group_members in self.members.items():
            for agent in group_members:
                groups_of[agent][name] = None
        self.groups_of: dict[str, tuple[str, ...]] = {a: tuple(g) for a, g in groups_of.items()}

    def _groups_by_pattern(self, agent: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for _, name in sorted(self._index.matching(agent))))

    def dynamic_groups(self, agent: str) -> tuple[str, ...]:
        """Groups an agent not named in the file belongs to through patterns, in file order."""
        return self._groups_by_pattern(agent)

    def is_known(self, agent: str) -> bool:
        return agent in self.groups_of or bool(self.dynamic_groups(agent))

    def select(self, selector: str) -> tuple[str, ...]:
        """The explicit agents a selector names (channels select no agents)."""
        kind = sel.kind_of(selector)
        if kind == "any":
            return self.agents
        if kind == "pattern":
            return tuple(a for a in self.agents if sel.matches(selector, a))
        if kind == "name":
            if selector in self.members:
                return self.members[selector]
            return (selector,) if selector in self.groups_of else ()
        return ()
