"""Agent resolution: an agent id → what the policy needs to know about it.

Every agent (and channel) maps to an ``AgentInfo``: its index in the table
of explicit agents (for per-pair rules), its *class* — the set of selectors
(``*``, its id, its groups, the patterns it matches) that rules refer to,
interned to a small integer — its interaction group and its transport. Two
agents in one class are indistinguishable to every group-level rule, so the
policy caches decisions per pair of classes rather than per pair of agents.

Explicit agents are resolved at compile time. Agents known only through a
pattern are resolved on first sight (a prefix-indexed pattern lookup) and
kept in a bounded LRU.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

from bus.decision import Transport
from bus.rules import selectors as sel
from bus.rules.membership import Membership
from bus.rules.schema import RulesFile

DEFAULT_GROUP: Final = "default"
DYNAMIC_CAPACITY: Final = 65_536


class AgentInfo:
    __slots__ = ("cls", "group", "groups", "index", "known", "transport")

    def __init__(
        self,
        *,
        index: int,
        cls: int,
        groups: tuple[str, ...],
        transport: Transport,
        known: bool,
    ) -> None:
        self.index = index
        self.cls = cls
        self.groups = groups
        self.group = groups[0] if groups else DEFAULT_GROUP
        self.transport = transport
        self.known = known


class Resolver:
    """Maps ids to ``AgentInfo``; ``selectors`` is every selector a rule uses."""

    def __init__(
        self,
        rules: RulesFile,
        membership: Membership,
        selectors: dict[str, int],
        capacity: int = DYNAMIC_CAPACITY,
    ) -> None:
        self._rules = rules
        self._membership = membership
        self._selectors = selectors
        self._patterns = sel.PatternIndex(
            (s, i) for s, i in selectors.items() if sel.kind_of(s) == "pattern"
        )
        self._classes: dict[frozenset[int], int] = {}
        self.class_signatures: list[frozenset[int]] = []
        self._capacity = capacity
        self._dynamic: OrderedDict[str, AgentInfo] = OrderedDict()
        self.dynamic_members: dict[str, int] = {}
        self.explicit: dict[str, AgentInfo] = {}
        for index, agent in enumerate(membership.agents):
            groups = membership.groups_of[agent]
            self.explicit[agent] = self._info(agent, index, groups, known=True)
        self.channels: dict[str, AgentInfo] = {}
        for name, channel in rules.channels.items():
            selector = sel.CHANNEL_PREFIX + name
            signature = frozenset([selectors[selector]] if selector in selectors else [])
            self.channels[selector] = AgentInfo(
                index=-1,
                cls=self._intern(signature),
                groups=(),
                transport=channel.effective_transport,
                known=True,
            )

    def _intern(self, signature: frozenset[int]) -> int:
        cls = self._classes.get(signature)
        if cls is None:
            cls = self._classes[signature] = len(self.class_signatures)
            self.class_signatures.append(signature)
        return cls

    def _transport(self, agent: str, groups: tuple[str, ...]) -> Transport:
        spec = self._rules.agents.get(agent)
        if spec is not None and spec.transport is not None:
            return spec.transport
        for group in groups:
            transport = self._rules.groups[group].transport
            if transport is not None:
                return transport
        return "kafka"

    def _info(self, agent: str, index: int, groups: tuple[str, ...], known: bool) -> AgentInfo:
        ids = self._selectors
        signature = {ids[sel.ANY]} if sel.ANY in ids else set()
        if agent in ids:
            signature.add(ids[agent])
        signature.update(ids[g] for g in groups if g in ids)
        signature.update(self._patterns.matching(agent))
        return AgentInfo(
            index=index,
            cls=self._intern(frozenset(signature)),
            groups=groups,
            transport=self._transport(agent, groups),
            known=known,
        )

    def agent(self, agent: str) -> AgentInfo:
        """Resolve an agent id (explicit, pattern-matched or unknown). Amortised O(1)."""
        info = self.explicit.get(agent)
        if info is not None:
            return info
        info = self._dynamic.get(agent)
        if info is not None:
            self._dynamic.move_to_end(agent)
            return info
        groups = self._membership.dynamic_groups(agent)
        info = self._info(agent, -1, groups, known=bool(groups))
        self._dynamic[agent] = info
        for group in groups:
            self.dynamic_members[group] = self.dynamic_members.get(group, 0) + 1
        if len(self._dynamic) > self._capacity:
            _, evicted = self._dynamic.popitem(last=False)
            for group in evicted.groups:
                self.dynamic_members[group] -= 1
        return info

    def recipient(self, recipient: str) -> AgentInfo | None:
        """Resolve an agent id or ``#channel``; None when nothing by that name exists."""
        if recipient.startswith(sel.CHANNEL_PREFIX):
            return self.channels.get(recipient)
        info = self.agent(recipient)
        return info if info.known else None
