"""Cross-reference checks over a decoded rules file.

Each finding is a ``Problem`` with the ``$.path`` it is about; the loader
turns paths into file positions. Errors make the file invalid; warnings are
reported by ``membrane check`` and do not stop anything.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass, field

from bus.rules import selectors as sel
from bus.rules.membership import Membership
from bus.rules.schema import DEFAULT_RULE, ConstitutionRule, EdgeRule, RulesFile
from bus.rules.sources import PathKey


@dataclass(frozen=True)
class Problem:
    path: PathKey
    message: str
    at_key: bool = False


@dataclass
class Report:
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def validate(rules: RulesFile) -> Report:
    """Every error and rule-level warning in ``rules``.

    Warnings about the shape of the resulting graph (unreachable agents,
    disconnected components) come from ``bus.policy.analysis``.
    """
    from bus.rules.contradictions import contradictions

    report = Report()
    report.errors.extend(_names(rules))
    if report.errors:
        return report
    membership = Membership(rules)
    report.errors.extend(_references(rules, membership))
    report.errors.extend(_presets(rules, membership))
    report.errors.extend(_filters(rules, membership))
    if report.errors:
        return report
    errors, warnings = contradictions(rules, membership)
    report.errors.extend(errors)
    report.warnings.extend(warnings)
    return report


def _names(rules: RulesFile) -> Iterator[Problem]:
    for section, names in (
        ("agents", rules.agents),
        ("groups", rules.groups),
        ("channels", rules.channels),
    ):
        for name in names:
            if not sel.is_identifier(name):
                yield Problem(
                    (section, name),
                    f"{section[:-1]} name {name!r} must start with a letter or digit and use only "
                    "letters, digits, '.', '_' and '-' (at most 128 characters)",
                    at_key=True,
                )
    for name in rules.agents:
        if name in rules.groups:
            yield Problem(("agents", name), f"{name!r} is both an agent and a group", at_key=True)
    for group_name, group in rules.groups.items():
        for i, member in enumerate(group.members):
            if member in rules.groups:
                yield Problem(
                    ("groups", group_name, "members", i),
                    f"member {member!r} is a group; groups do not nest, list its agents",
                )
    seen: dict[str, PathKey] = {}
    for path, name in _rule_names(rules):
        if name == DEFAULT_RULE:
            yield Problem(path, f"rule name {DEFAULT_RULE!r} is reserved for the default deny")
        elif name in seen:
            yield Problem(path, f"rule name {name!r} is already used at {_render(seen[name])}")
        else:
            seen[name] = path


def rule_names(rules: RulesFile) -> frozenset[str]:
    """Every name a decision of ``rules`` can carry, the default deny included."""
    return frozenset(name for _, name in _rule_names(rules)) | {DEFAULT_RULE}


def _rule_names(rules: RulesFile) -> Iterator[tuple[PathKey, str]]:
    for i, preset in enumerate(rules.topology):
        yield ("topology", i, "name"), preset.rule_name
    for i, edge in enumerate(rules.edges):
        yield ("edges", i, "name"), edge.name
    for i, rule in enumerate(rules.constitution):
        yield ("constitution", i, "name"), rule.name


def _render(path: PathKey) -> str:
    from bus.rules.sources import render_path

    return render_path(path)


def _suggest(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def selector_problem(selector: str, rules: RulesFile, membership: Membership) -> str | None:
    """Why ``selector`` names nothing, or None when it names something."""
    kind = sel.kind_of(selector)
    if kind == "channel":
        name = selector[1:]
        if name not in rules.channels:
            return f"unknown channel {selector!r}" + _suggest(name, list(rules.channels))
    elif kind == "name":
        if selector not in membership.groups_of and selector not in rules.groups:
            names = [*membership.agents, *rules.groups]
            return f"unknown agent or group {selector!r}" + _suggest(selector, names)
    elif kind == "pattern":
        if membership.select(selector):
            return None
        sample = sel.sample_of(selector)
        if any(p == selector or sel.matches(p, sample) for _, p in membership.patterns):
            return None
        return f"pattern {selector!r} matches no agent and no group pattern"
    return None


def _references(rules: RulesFile, membership: Membership) -> Iterator[Problem]:
    for agent, spec in rules.agents.items():
        for i, group in enumerate(spec.groups):
            if group not in rules.groups:
                yield Problem(
                    ("agents", agent, "groups", i),
                    f"unknown group {group!r}" + _suggest(group, list(rules.groups)),
                )
    for path, selector, rule_name in rule_selectors(rules):
        problem = selector_problem(selector, rules, membership)
        if problem is not None:
            yield Problem(path, f"{problem} in rule {rule_name!r}")


def rule_selectors(rules: RulesFile) -> Iterator[tuple[PathKey, str, str]]:
    """(path, selector, rule name) for every selector in edges and the constitution."""
    entries: list[tuple[str, int, EdgeRule | ConstitutionRule]] = [
        *(("edges", i, e) for i, e in enumerate(rules.edges)),
        *(("constitution", i, c) for i, c in enumerate(rules.constitution)),
    ]
    for section, i, rule in entries:
        for field_name, raw in (("from", rule.from_), ("to", rule.to)):
            if isinstance(raw, str):
                yield (section, i, field_name), raw, rule.name
            else:
                for j, selector in enumerate(raw):
                    yield (section, i, field_name, j), selector, rule.name


def _presets(rules: RulesFile, membership: Membership) -> Iterator[Problem]:
    for i, preset in enumerate(rules.topology):
        if preset.group not in rules.groups:
            yield Problem(
                ("topology", i, "group"),
                f"unknown group {preset.group!r}" + _suggest(preset.group, list(rules.groups)),
            )
            continue
        members = membership.members[preset.group]
        try:
            preset.check_size(len(members))
        except ValueError as exc:
            yield Problem(("topology", i), f"{exc} (preset {preset.rule_name!r})")
        hub = getattr(preset, "hub", None)
        if hub is not None and hub not in members:
            yield Problem(
                ("topology", i, "hub"), f"hub {hub!r} is not a member of group {preset.group!r}"
            )


def _filters(rules: RulesFile, membership: Membership) -> Iterator[Problem]:
    for i, config in enumerate(rules.filters):
        for j, group in enumerate(config.attach.groups):
            if group not in rules.groups:
                yield Problem(
                    ("filters", i, "attach", "groups", j),
                    f"unknown group {group!r}" + _suggest(group, list(rules.groups)),
                )
        for j, edge in enumerate(config.attach.edges):
            path: PathKey = ("filters", i, "attach", "edges", j)
            ends = parse_attach_edge(edge)
            if ends is None:
                yield Problem(path, f"attach edge {edge!r} must look like 'from->to'")
                continue
            for end in ends:
                try:
                    sel.check_selector(end)
                except ValueError as exc:
                    yield Problem(path, str(exc))
                    continue
                problem = selector_problem(end, rules, membership)
                if problem is not None:
                    yield Problem(path, problem)


def parse_attach_edge(edge: str) -> tuple[str, str] | None:
    source, arrow, target = edge.partition("->")
    source, target = source.strip(), target.strip()
    if not arrow or not source or not target or source.startswith(sel.CHANNEL_PREFIX):
        return None
    return source, target
