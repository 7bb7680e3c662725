"""Rules that contradict each other.

Precedence is fixed (constitution, then denies, then allows), so a conflict
never makes a decision ambiguous; these checks point out rules that do not
mean what their author probably meant:

- error: an enforced allow (edge or preset) that an enforced deny edge
  covers completely — every sender, recipient and kind it allows is denied,
  so the allow is dead. A deny that covers only part of an allow is the
  normal way to carve out an exception and is not reported.
- warning: an enforced allow that overlaps an enforced unconditional
  constitution rule, or allows more bytes than a constitution size cap over
  the same pairs — the constitution wins, which ``check`` says.

Coverage is decided conservatively: an error is raised only when coverage is
certain for explicit and pattern-matched agents alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from bus.rules import selectors as sel
from bus.rules.membership import Membership
from bus.rules.schema import RulesFile
from bus.rules.sources import PathKey
from bus.rules.validate import Problem


@dataclass(frozen=True)
class _Allow:
    path: PathKey
    name: str
    senders: tuple[str, ...]
    recipients: tuple[str, ...]
    kinds: tuple[str, ...]
    max_bytes: int | None


def _allows(rules: RulesFile) -> Iterator[_Allow]:
    for i, edge in enumerate(rules.edges):
        if edge.action == "allow" and edge.mode == "enforce":
            yield _Allow(
                ("edges", i),
                edge.name,
                edge.senders,
                edge.recipients,
                edge.kinds,
                edge.max_bytes,
            )
    for i, preset in enumerate(rules.topology):
        if preset.mode == "enforce":
            group = (preset.group,)
            yield _Allow(
                ("topology", i), preset.rule_name, group, group, preset.kinds, preset.max_bytes
            )


def _covers_one(deny: tuple[str, ...], entry: str, rules: RulesFile, m: Membership) -> bool:
    if entry in deny:
        return True
    kind = sel.kind_of(entry)
    if kind == "channel":
        return False
    if sel.ANY in deny:
        return True
    if kind == "name" and entry in m.groups_of and entry not in rules.groups:
        return any(g in deny for g in m.groups_of[entry]) or any(
            sel.kind_of(d) == "pattern" and sel.matches(d, entry) for d in deny
        )
    if kind == "name" and entry in rules.groups:
        group = rules.groups[entry]
        return all(p in deny for p in group.patterns) and all(
            _covers_one(deny, member, rules, m) for member in m.members[entry]
        )
    return False


def _covers(deny: tuple[str, ...], allow: tuple[str, ...], rules: RulesFile, m: Membership) -> bool:
    return all(_covers_one(deny, entry, rules, m) for entry in allow)


def _kinds_cover(deny: tuple[str, ...], allow: tuple[str, ...]) -> bool:
    return not deny or (bool(allow) and set(allow) <= set(deny))


def _kinds_overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return not a or not b or not set(a).isdisjoint(b)


def _common_kinds(a: tuple[str, ...], b: tuple[str, ...]) -> str:
    common = sorted(set(a) & set(b)) if a and b else sorted(a or b)
    return "|".join(common)


def _targets(selectors: tuple[str, ...], m: Membership) -> set[str]:
    """Explicit agents and channels a selector list names."""
    out = {s for s in selectors if sel.kind_of(s) == "channel"}
    for selector in selectors:
        out.update(m.select(selector))
    return out


def _overlap(a: tuple[str, ...], b: tuple[str, ...], m: Membership) -> str | None:
    """An agent or channel both selector lists name, if any."""
    common = _targets(a, m) & _targets(b, m)
    if common:
        return sorted(common)[0]
    for x in a:
        for y in b:
            if sel.kind_of(x) == "channel" or sel.kind_of(y) == "channel":
                continue
            if sel.ANY in (x, y) or x == y:
                return x if y == sel.ANY else y
            if sel.kind_of(x) == "pattern" and sel.matches(x, sel.sample_of(y)):
                return y
            if sel.kind_of(y) == "pattern" and sel.matches(y, sel.sample_of(x)):
                return x
    return None


def contradictions(rules: RulesFile, membership: Membership) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) about allows that denies or the constitution override."""
    errors: list[Problem] = []
    warnings: list[Problem] = []
    allows = list(_allows(rules))
    for allow in allows:
        for deny in rules.edges:
            if deny.action != "deny" or deny.mode != "enforce":
                continue
            if (
                _covers(deny.senders, allow.senders, rules, membership)
                and _covers(deny.recipients, allow.recipients, rules, membership)
                and _kinds_cover(deny.kinds, allow.kinds)
            ):
                errors.append(
                    Problem(
                        allow.path,
                        f"allow rule {allow.name!r} can never apply: deny rule {deny.name!r} "
                        "covers every sender, recipient and kind it allows",
                    )
                )
                break
        for i, rule in enumerate(rules.constitution):
            if rule.mode != "enforce" or not _kinds_overlap(rule.kinds, allow.kinds):
                continue
            if not rule.unconditional and not (
                rule.max_bytes is not None
                and allow.max_bytes is not None
                and allow.max_bytes > rule.max_bytes
            ):
                continue
            sender = _overlap(rule.senders, allow.senders, membership)
            recipient = _overlap(rule.recipients, allow.recipients, membership)
            if sender is None or recipient is None:
                continue
            what = "denies" if rule.unconditional else f"caps at {rule.max_bytes} bytes"
            kinds = _common_kinds(rule.kinds, allow.kinds)
            example = f"{sender} -> {recipient}" + (f", kind {kinds}" if kinds else "")
            warnings.append(
                Problem(
                    ("constitution", i),
                    f"constitution rule {rule.name!r} {what} what allow rule {allow.name!r} "
                    f"permits (e.g. {example}); the constitution wins",
                )
            )
    return errors, warnings
