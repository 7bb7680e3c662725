"""The effective topology: which explicit agent may send to which agent or channel.

A directed edge s → r exists when some allow rule (edge or preset, enforced
or shadow) covers the pair and no enforced deny or unconditional
constitution rule blocks every kind that allow permits. Conditions on size,
fields or content type do not remove an edge: some message can still pass.

Built from the compiled policy's tables rather than by asking about every
pair: per-pair rules are read straight from the pair table, and group-level
rules once per pair of rule classes, so the cost is O(edges + agents *
classes). Graphs above ``max_edges`` raise ``GraphTooLarge``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from bus.policy.policy import Policy
from bus.policy.rule import CompiledRule
from bus.policy.tables import PairRules

MAX_EDGES: Final = 2_000_000


class GraphTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the effective topology has more than {limit} edges")
        self.limit = limit


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    rule: str
    shadow: bool
    kinds: tuple[str, ...] | None


@dataclass
class Graph:
    nodes: tuple[str, ...]
    channels: tuple[str, ...]
    edges: list[Edge] = field(default_factory=list)


def _blocked(allow: CompiledRule, blockers: Iterable[CompiledRule]) -> bool:
    for rule in blockers:
        if rule.shadow:
            continue
        if rule.layer == "constitution" and (
            rule.max_hops is not None or rule.max_bytes is not None
        ):
            continue
        if rule.kinds is None or (allow.kinds is not None and allow.kinds <= rule.kinds):
            return True
    return False


def permitted(by_class: PairRules, by_pair: PairRules) -> CompiledRule | None:
    """The first allow rule some message can pass, or None."""
    blockers = (*by_class.constitution, *by_class.denies, *by_pair.denies)
    for allow in (*by_class.allows, *by_pair.allows):
        if not _blocked(allow, blockers):
            return allow
    return None


def build_graph(policy: Policy, max_edges: int | None = None) -> Graph:
    limit = MAX_EDGES if max_edges is None else max_edges
    agents = policy.agents
    channels = policy.channels
    graph = Graph(nodes=agents, channels=channels)
    by_pair: dict[tuple[str, str], PairRules] = {
        (s, r): entry for s, r, entry in policy.pair_rules()
    }
    members: dict[int, list[str]] = {}
    for target in (*agents, *channels):
        members.setdefault(policy.class_of(target), []).append(target)
    empty = PairRules()
    seen: set[tuple[str, str]] = set()
    for sender in agents:
        sender_cls = policy.class_of(sender)
        for target_cls, targets in members.items():
            class_entry = policy.class_rules(sender_cls, target_cls)
            if not class_entry.allows:
                continue
            for target in targets:
                if target == sender:
                    continue
                pair = by_pair.get((sender, target), empty)
                _add(graph, sender, target, permitted(class_entry, pair), limit)
                seen.add((sender, target))
    for (sender, target), entry in by_pair.items():
        if (sender, target) in seen or sender == target:
            continue
        class_entry = policy.class_rules(policy.class_of(sender), policy.class_of(target))
        _add(graph, sender, target, permitted(class_entry, entry), limit)
    return graph


def _add(graph: Graph, sender: str, target: str, rule: CompiledRule | None, limit: int) -> None:
    if rule is None:
        return
    if len(graph.edges) >= limit:
        raise GraphTooLarge(limit)
    kinds = tuple(sorted(rule.kinds)) if rule.kinds is not None else None
    graph.edges.append(Edge(sender, target, rule.name, rule.shadow, kinds))
