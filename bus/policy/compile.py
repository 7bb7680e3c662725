"""Compiling a ``RulesFile`` into a ``Policy``.

Rules between listed agents only (presets, and edges whose selectors are
agent ids or groups without patterns) expand into the pair table, within a
budget; everything else (patterns, ``*``, channels, the constitution,
filter attachments) stays as selector sets for the class table. Rule order
is the evaluation order within a layer: constitution, then edges, then
presets, each in file order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Final

import msgspec

from bus.errors import ConfigError
from bus.policy.policy import Policy
from bus.policy.resolver import Resolver
from bus.policy.rule import CompiledRule
from bus.policy.tables import ClassTable, PairRules, Selected
from bus.rules import selectors as sel
from bus.rules.loader import load_rules
from bus.rules.membership import Membership
from bus.rules.presets import StarPreset
from bus.rules.schema import EdgeRule, RulesFile
from bus.rules.sources import render_path
from bus.rules.validate import parse_attach_edge, validate
from filters.base import FilterConfig

# Edge rules over listed agents expand into the pair table up to this many
# pairs in total; beyond it they stay group-level rules (same decisions, and
# memory bounded whatever the file says).
PAIR_EXPANSION_BUDGET: Final = 1_000_000


def rules_version(rules: RulesFile) -> str:
    """A short SHA-256 of the canonical (sorted-key JSON) form of the rules."""
    canonical = msgspec.json.encode(rules, order="sorted")
    return hashlib.sha256(canonical).hexdigest()[:12]


def load_policy(*paths: str | Path) -> Policy:
    return compile_policy(load_rules(*paths))


class _Selectors:
    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def of(self, names: Iterable[str]) -> frozenset[int]:
        return frozenset(self.ids.setdefault(n, len(self.ids)) for n in names)


def compile_policy(rules: RulesFile, *, check: bool = True) -> Policy:
    """Validate and compile. ``check=False`` skips validation for rules already
    validated by ``load_rules`` (the benchmark measures compilation alone)."""
    if check:
        report = validate(rules)
        if report.errors:
            first = report.errors[0]
            raise ConfigError(first.message, path=render_path(first.path))
    membership = Membership(rules)
    selectors = _Selectors()
    class_rules: list[tuple[Selected, CompiledRule]] = []
    pair_edges: list[tuple[tuple[str, ...], tuple[str, ...], CompiledRule]] = []
    budget = PAIR_EXPANSION_BUDGET
    order = 0
    for rule in rules.constitution:
        compiled = CompiledRule(
            name=rule.name,
            layer="constitution",
            order=order,
            shadow=rule.mode == "shadow",
            kinds=rule.kinds,
            max_bytes=rule.max_bytes,
            max_hops=rule.max_hops,
        )
        class_rules.append((_selected(selectors, rule.senders, rule.recipients), compiled))
        order += 1
    for edge in rules.edges:
        compiled = CompiledRule(
            name=edge.name,
            layer="deny" if edge.action == "deny" else "allow",
            order=order,
            shadow=edge.mode == "shadow",
            kinds=edge.kinds,
            max_bytes=edge.max_bytes,
            require_fields=edge.require_fields,
            content_type=edge.content_type,
        )
        order += 1
        ends = _listed_ends(edge, membership, rules)
        if ends is not None and len(ends[0]) * len(ends[1]) <= budget:
            budget -= len(ends[0]) * len(ends[1])
            pair_edges.append((*ends, compiled))
        else:
            class_rules.append((_selected(selectors, edge.senders, edge.recipients), compiled))
    filters = [(_places(selectors, config), config) for config in rules.filters]
    resolver = Resolver(rules, membership, selectors.ids)
    pairs = _pair_table(rules, membership, pair_edges, order)
    return Policy(
        rules=rules,
        version=rules_version(rules),
        membership=membership,
        resolver=resolver,
        classes=ClassTable(resolver.class_signatures, class_rules, filters),
        pairs=pairs,
    )


def _selected(selectors: _Selectors, senders: Iterable[str], recipients: Iterable[str]) -> Selected:
    return Selected(selectors.of(senders), selectors.of(recipients))


def _places(selectors: _Selectors, config: FilterConfig) -> tuple[Selected, ...]:
    places: list[Selected] = []
    for group in config.attach.groups:
        ids = selectors.of([group])
        places.extend((Selected(ids, None), Selected(None, ids)))
    for edge in config.attach.edges:
        ends = parse_attach_edge(edge)
        if ends is not None:
            places.append(_selected(selectors, [ends[0]], [ends[1]]))
    return tuple(places)


def _listed(selector: str, membership: Membership, rules: RulesFile) -> tuple[str, ...] | None:
    """The listed agents a selector names, or None if it can also name others."""
    if sel.kind_of(selector) != "name":
        return None
    group = rules.groups.get(selector)
    if group is not None:
        return None if group.patterns else membership.members[selector]
    return (selector,) if selector in membership.groups_of else None


def _listed_ends(
    edge: EdgeRule, membership: Membership, rules: RulesFile
) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """Senders and recipients of an edge that names listed agents only (directly or
    through groups without patterns): such an edge can go into the pair table."""
    ends: list[tuple[str, ...]] = []
    for selectors in (edge.senders, edge.recipients):
        agents: dict[str, None] = {}
        for selector in selectors:
            listed = _listed(selector, membership, rules)
            if listed is None:
                return None
            agents.update(dict.fromkeys(listed))
        ends.append(tuple(agents))
    return ends[0], ends[1]


class _PairBuilder:
    """Fills the pair table, sharing one ``PairRules`` per distinct rule list."""

    def __init__(self, stride: int) -> None:
        self.stride = stride
        self.table: dict[int, PairRules] = {}
        self._shared: dict[tuple[int, ...], PairRules] = {}
        self._rules: dict[int, CompiledRule] = {}

    def _entry(self, rules: tuple[CompiledRule, ...]) -> PairRules:
        key = tuple(r.order for r in rules)
        entry = self._shared.get(key)
        if entry is None:
            entry = self._shared[key] = PairRules.of(rules)
        return entry

    def add_all(self, rule: CompiledRule, pairs: Iterable[tuple[int, int]]) -> None:
        single = self._entry((rule,))
        table = self.table
        stride = self.stride
        for sender, recipient in pairs:
            key = sender * stride + recipient
            existing = table.get(key)
            if existing is None:
                table[key] = single
            elif existing is not single:
                merged = (*existing.constitution, *existing.denies, *existing.allows, rule)
                table[key] = self._entry(merged)


def _pair_table(
    rules: RulesFile,
    membership: Membership,
    edges: list[tuple[tuple[str, ...], tuple[str, ...], CompiledRule]],
    order: int,
) -> dict[int, PairRules]:
    index = {agent: i for i, agent in enumerate(membership.agents)}
    builder = _PairBuilder(max(len(index), 1))
    for senders, recipients, compiled in edges:
        builder.add_all(compiled, ((index[s], index[r]) for s in senders for r in recipients))
    for preset in rules.topology:
        members = list(membership.members[preset.group])
        if isinstance(preset, StarPreset) and preset.hub is not None:
            members.remove(preset.hub)
            members.insert(0, preset.hub)
        compiled = CompiledRule(
            name=preset.rule_name,
            layer="allow",
            order=order,
            shadow=preset.mode == "shadow",
            kinds=preset.kinds,
            max_bytes=preset.max_bytes,
        )
        order += 1
        ids = [index[m] for m in members]
        builder.add_all(compiled, ((ids[u], ids[v]) for u, v in preset.pairs(len(ids))))
    return builder.table
