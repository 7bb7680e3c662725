"""Property tests: the compiled policy agrees with a rule-by-rule reading of the file,
and constitution denies always win, whatever allows the file also contains."""

from __future__ import annotations

from fnmatch import fnmatchcase

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bus.envelope import Envelope
from bus.policy import Policy, compile_policy
from bus.rules.membership import Membership
from bus.rules.presets import FullPreset, RingPreset
from bus.rules.schema import (
    AgentSpec,
    ChannelSpec,
    ConstitutionRule,
    EdgeRule,
    GroupSpec,
    RulesFile,
)
from bus.rules.validate import validate

AGENTS = ("a0", "a1", "a2", "a3", "a4")
DYNAMIC = ("d-1", "d-2")
GROUPS = ("g0", "g1")
SELECTORS = (*AGENTS, *GROUPS, "*", "d-*")
KINDS = ("task", "chat")
PROPERTY = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.filter_too_much]
)

selector_lists = st.lists(st.sampled_from(SELECTORS), min_size=1, max_size=2, unique=True).map(
    tuple
)
recipient_lists = st.lists(
    st.sampled_from((*SELECTORS, "#ch")), min_size=1, max_size=2, unique=True
).map(tuple)
kind_lists = st.lists(st.sampled_from(KINDS), max_size=2, unique=True).map(tuple)
modes = st.sampled_from(("enforce", "enforce", "shadow"))


@st.composite
def edge_rules(draw: st.DrawFn, index: int) -> EdgeRule:
    action = draw(st.sampled_from(("allow", "allow", "deny")))
    return EdgeRule(
        name=f"e{index}",
        from_=draw(selector_lists),
        to=draw(recipient_lists),
        action=action,
        mode=draw(modes),
        kinds=draw(kind_lists),
        max_bytes=draw(st.sampled_from((None, 10))) if action == "allow" else None,
    )


@st.composite
def constitution_rules(draw: st.DrawFn, index: int, hard: bool = False) -> ConstitutionRule:
    """A constitution rule; ``hard`` makes it an enforced, unconditional deny."""
    return ConstitutionRule(
        name=f"c{index}",
        from_=draw(selector_lists),
        to=draw(recipient_lists),
        kinds=draw(kind_lists),
        max_hops=None if hard else draw(st.sampled_from((None, None, 2))),
        max_bytes=None if hard else draw(st.sampled_from((None, None, 10))),
        mode="enforce" if hard else draw(modes),
    )


@st.composite
def rules_files(draw: st.DrawFn, hard_constitution: bool = False) -> RulesFile:
    members = {g: tuple(draw(st.lists(st.sampled_from(AGENTS), unique=True))) for g in GROUPS}
    groups = {g: GroupSpec(members=m) for g, m in members.items()}
    groups["dyn"] = GroupSpec(patterns=("d-*",))
    edges = tuple(draw(edge_rules(i)) for i in range(draw(st.integers(0, 5))))
    if hard_constitution:
        rules: tuple[ConstitutionRule, ...] = (draw(constitution_rules(0, hard=True)),)
    else:
        rules = tuple(draw(constitution_rules(i)) for i in range(draw(st.integers(0, 2))))
    topology: list[FullPreset | RingPreset] = []
    if len(members["g0"]) >= 2 and draw(st.booleans()):
        topology.append(FullPreset(group="g0", kinds=draw(kind_lists), mode=draw(modes)))
    if len(members["g1"]) >= 3 and draw(st.booleans()):
        topology.append(RingPreset(group="g1", k=2))
    return RulesFile(
        version=1,
        agents={a: AgentSpec() for a in AGENTS},
        groups=groups,
        channels={"ch": ChannelSpec(topic="t.ch")},
        topology=tuple(topology),
        edges=edges,
        constitution=rules,
        default_mode=draw(st.sampled_from(("enforce", "enforce", "shadow"))),
    )


def _matches(selector: str, target: str, membership: Membership, rules: RulesFile) -> bool:
    if target.startswith("#") or selector.startswith("#"):
        return selector == target
    if selector == "*":
        return True
    if "*" in selector:
        return fnmatchcase(target, selector)
    if selector in rules.groups:
        groups = membership.groups_of.get(target) or membership.dynamic_groups(target)
        return selector in groups
    return selector == target


def reference(rules: RulesFile, env: Envelope, recipient: str) -> tuple[bool, str, str, str | None]:
    """The decision read straight off the file, rule by rule, as docs/rules.md describes it."""
    m = Membership(rules)
    known = recipient[1:] in rules.channels if recipient.startswith("#") else m.is_known(recipient)
    if not known:
        return False, "default", "unknown-recipient", None

    def covers(senders: tuple[str, ...], recipients: tuple[str, ...]) -> bool:
        return any(_matches(s, env.sender, m, rules) for s in senders) and any(
            _matches(r, recipient, m, rules) for r in recipients
        )

    def kind_ok(kinds: tuple[str, ...]) -> bool:
        return not kinds or env.kind in kinds

    shadow: tuple[str, str] | None = None
    for c in rules.constitution:
        if not covers(c.senders, c.recipients) or not kind_ok(c.kinds):
            continue
        reason = None
        if c.unconditional:
            reason = "constitution"
        elif c.max_hops is not None and env.hops + 1 > c.max_hops:
            reason = "hop-limit"
        elif c.max_bytes is not None and env.size > c.max_bytes:
            reason = "too-large"
        if reason is not None:
            if c.mode == "enforce":
                return False, c.name, reason, shadow[0] if shadow else None
            shadow = shadow or (c.name, reason)
    for e in rules.edges:
        if e.action == "deny" and covers(e.senders, e.recipients) and kind_ok(e.kinds):
            if e.mode == "enforce":
                return False, e.name, "denied", shadow[0] if shadow else None
            shadow = shadow or (e.name, "denied")
    allows: list[tuple[str, str, tuple[str, ...], int | None]] = [
        (e.name, e.mode, e.kinds, e.max_bytes)
        for e in rules.edges
        if e.action == "allow" and covers(e.senders, e.recipients)
    ]
    for preset in rules.topology:
        group = m.members[preset.group]
        if env.sender in group and recipient in group:
            pairs = set(preset.pairs(len(group)))
            if (group.index(env.sender), group.index(recipient)) in pairs:
                allows.append((preset.rule_name, preset.mode, preset.kinds, preset.max_bytes))
    failed = shadow_allow = None
    for name, mode, kinds, max_bytes in allows:
        reason = None
        if not kind_ok(kinds):
            reason = "kind"
        elif max_bytes is not None and env.size > max_bytes:
            reason = "too-large"
        if reason is None:
            return True, name, shadow[1] if shadow else "allowed", shadow[0] if shadow else None
        if mode == "shadow":
            shadow_allow = shadow_allow or (name, reason)
        else:
            failed = failed or (name, reason)
    if shadow_allow is not None:
        name, reason = shadow_allow
        return True, name, shadow[1] if shadow else reason, shadow[0] if shadow else name
    if failed is not None:
        return False, failed[0], failed[1], shadow[0] if shadow else None
    if rules.default_mode == "shadow":
        return (
            True,
            "default",
            shadow[1] if shadow else "default-deny",
            (shadow[0] if shadow else "default"),
        )
    return False, "default", "default-deny", shadow[0] if shadow else None


def envelopes(sender: str) -> list[Envelope]:
    return [
        Envelope(sender=sender, payload=b"x" * size, kind=kind, hops=hops)
        for kind in ("", *KINDS)
        for size in (0, 20)
        for hops in (0, 3)
    ]


def compiled(rules: RulesFile) -> Policy:
    assume(not validate(rules).errors)
    return compile_policy(rules)


@PROPERTY
@given(rules_files())
def test_compiled_decisions_match_the_rule_by_rule_reading(rules: RulesFile) -> None:
    policy = compiled(rules)
    targets = (*AGENTS, *DYNAMIC, "#ch", "nobody")
    for sender in (*AGENTS, *DYNAMIC, "stranger"):
        for env in envelopes(sender):
            for target in targets:
                decision = policy.decide(env, target)
                got = (decision.allowed, decision.rule, decision.reason, decision.shadow_rule)
                assert got == reference(rules, env, target), (sender, env, target)


def allow_covers(rules: RulesFile, sender: str, target: str) -> bool:
    """Whether some allow edge or preset covers the pair, its conditions aside."""
    m = Membership(rules)
    for e in rules.edges:
        senders_match = any(_matches(s, sender, m, rules) for s in e.senders)
        recipients_match = any(_matches(r, target, m, rules) for r in e.recipients)
        if e.action == "allow" and senders_match and recipients_match:
            return True
    for preset in rules.topology:
        group = m.members[preset.group]
        if sender in group and target in group:
            edge = (group.index(sender), group.index(target))
            if edge in set(preset.pairs(len(group))):
                return True
    return False


@PROPERTY
@given(rules_files())
def test_fan_out_lists_exactly_the_targets_some_allow_covers(rules: RulesFile) -> None:
    policy = compiled(rules)
    for sender in AGENTS:
        fanout = policy.recipients(Envelope(sender=sender, payload=b"")).resolved
        expected = [t for t in (*AGENTS, "#ch") if t != sender and allow_covers(rules, sender, t)]
        assert list(fanout) == expected, sender


@PROPERTY
@given(
    rules_files(hard_constitution=True), st.sampled_from(AGENTS), st.sampled_from((*AGENTS, "#ch"))
)
def test_an_enforced_constitution_deny_always_wins(
    rules: RulesFile, sender: str, target: str
) -> None:
    rule = rules.constitution[0]
    policy = compiled(rules)
    m = Membership(rules)
    covered = any(_matches(s, sender, m, rules) for s in rule.senders) and any(
        _matches(r, target, m, rules) for r in rule.recipients
    )
    for env in envelopes(sender):
        decision = policy.decide(env, target)
        if covered and (not rule.kinds or env.kind in rule.kinds):
            assert not decision.allowed
            assert (decision.rule, decision.reason) == (rule.name, "constitution")
        else:
            assert decision.rule != rule.name
