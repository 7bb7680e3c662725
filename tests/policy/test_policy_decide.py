"""Decisions of the compiled policy: each construct, the precedence, and the rule named."""

from __future__ import annotations

import textwrap
from pathlib import Path

import msgspec
import pytest

from bus.decision import Decision
from bus.envelope import Envelope
from bus.errors import ConfigError
from bus.policy import Policy, compile_policy, load_policy
from bus.policy.resolver import Resolver
from bus.rules import load_rules
from bus.rules.schema import EdgeRule, GroupSpec, RulesFile


def policy_of(tmp_path: Path, text: str, name: str = "rules.yaml") -> Policy:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return load_policy(path)


def msg(sender: str, kind: str = "", size: int = 0, hops: int = 0, **extra: object) -> Envelope:
    return Envelope(sender=sender, payload=b"x" * size, kind=kind, hops=hops, **extra)  # type: ignore[arg-type]


def said(decision: Decision) -> tuple[bool, str, str, str | None]:
    return decision.allowed, decision.rule, decision.reason, decision.shadow_rule


TEAM = """
version: 1
agents:
  planner: {groups: [leads]}
  critic: {groups: [reviewers]}
groups:
  leads: {}
  reviewers: {}
  workers: {members: [w1, w2, w3], patterns: ["w-*"]}
channels:
  news: {topic: team.news}
  radio: {mqtt_topic: team/radio}
"""


@pytest.fixture
def team(tmp_path: Path) -> Policy:
    return policy_of(
        tmp_path,
        TEAM
        + """
edges:
  - {name: assign, from: planner, to: workers, kinds: [task]}
  - {name: report, from: workers, to: planner}
  - {name: w1-to-w2, from: w1, to: w2}
  - {name: no-w2-to-planner, from: w2, to: planner, action: deny, kinds: [report]}
  - {name: publish, from: planner, to: "#news"}
  - {name: anyone-to-critic, from: "*", to: critic, max_bytes: 100}
""",
    )


def test_group_edge_allows_and_names_the_rule(team: Policy) -> None:
    assert said(team.decide(msg("planner", "task"), "w1")) == (True, "assign", "allowed", None)


def test_kind_outside_the_edge_is_denied_by_that_edge(team: Policy) -> None:
    assert said(team.decide(msg("planner", "chat"), "w1")) == (False, "assign", "kind", None)


def test_no_edge_means_default_deny(team: Policy) -> None:
    assert said(team.decide(msg("critic", "review"), "w3")) == (
        False,
        "default",
        "default-deny",
        None,
    )


def test_edges_are_directed(team: Policy) -> None:
    assert team.decide(msg("w1"), "w2").allowed
    assert not team.decide(msg("w2"), "w1").allowed


def test_deny_beats_allow_for_its_kinds_only(team: Policy) -> None:
    assert said(team.decide(msg("w2", "report"), "planner")) == (
        False,
        "no-w2-to-planner",
        "denied",
        None,
    )
    assert said(team.decide(msg("w2", "result"), "planner")) == (True, "report", "allowed", None)
    assert team.decide(msg("w1", "report"), "planner").allowed


def test_pattern_members_are_resolved_on_first_sight(team: Policy) -> None:
    assert said(team.decide(msg("planner", "task"), "w-42")) == (True, "assign", "allowed", None)
    assert team.group_of("w-42") == "workers"


def test_unknown_recipient(team: Policy) -> None:
    assert said(team.decide(msg("planner", "task"), "stranger")) == (
        False,
        "default",
        "unknown-recipient",
        None,
    )
    assert not team.decide(msg("planner"), "#nowhere").allowed


def test_unknown_sender_only_reaches_what_star_allows(team: Policy) -> None:
    assert team.decide(msg("stranger", size=10), "critic").allowed
    assert not team.decide(msg("stranger", "task"), "w1").allowed


def test_star_does_not_include_channels(team: Policy) -> None:
    assert team.decide(msg("planner"), "#news").allowed
    assert not team.decide(msg("critic"), "#news").allowed


def test_max_bytes(team: Policy) -> None:
    assert team.decide(msg("w1", size=100), "critic").allowed
    assert said(team.decide(msg("w1", size=101), "critic")) == (
        False,
        "anyone-to-critic",
        "too-large",
        None,
    )


def test_require_fields_and_content_type(tmp_path: Path) -> None:
    policy = policy_of(
        tmp_path,
        """
        version: 1
        agents: {a: {}, b: {}}
        edges:
          - {name: json-only, from: a, to: b, require_fields: [id, body],
             content_type: application/json}
        """,
    )
    json_type = (("Content-Type", b"application/json; charset=utf-8"),)
    good = msgspec.json.encode({"id": 1, "body": "x"})
    ok = Envelope(sender="a", payload=good, extra_headers=json_type)
    assert said(policy.decide(ok, "b")) == (True, "json-only", "allowed", None)
    missing = Envelope(sender="a", payload=b'{"id": 1}', extra_headers=json_type)
    assert policy.decide(missing, "b").reason == "missing-field"
    not_json = Envelope(sender="a", payload=b"id body", extra_headers=json_type)
    assert policy.decide(not_json, "b").reason == "missing-field"
    untyped = Envelope(sender="a", payload=good)
    assert policy.decide(untyped, "b").reason == "content-type"


def test_a_later_allow_can_permit_what_an_earlier_one_conditions(tmp_path: Path) -> None:
    policy = policy_of(
        tmp_path,
        """
        version: 1
        agents: {a: {}, b: {}}
        edges:
          - {name: small-tasks, from: a, to: b, kinds: [task], max_bytes: 10}
          - {name: any-chat, from: a, to: b, kinds: [chat]}
        """,
    )
    assert said(policy.decide(msg("a", "chat", size=50), "b")) == (
        True,
        "any-chat",
        "allowed",
        None,
    )
    assert said(policy.decide(msg("a", "task", size=50), "b")) == (
        False,
        "small-tasks",
        "too-large",
        None,
    )


CONSTITUTION = (
    TEAM
    + """
constitution:
  - {name: no-news-from-workers, from: workers, to: "#news"}
  - {name: hop-cap, max_hops: 3}
  - {name: size-cap, to: workers, max_bytes: 50}
  - {name: no-secrets, kinds: [secret]}
edges:
  - {name: everyone, from: "*", to: "*"}
  - {name: news, from: "*", to: "#news"}
"""
)


def test_constitution_wins_over_any_allow(tmp_path: Path) -> None:
    policy = policy_of(tmp_path, CONSTITUTION)
    assert said(policy.decide(msg("w1"), "#news")) == (
        False,
        "no-news-from-workers",
        "constitution",
        None,
    )
    assert policy.decide(msg("planner"), "#news").allowed
    assert said(policy.decide(msg("planner", hops=3), "w1")) == (
        False,
        "hop-cap",
        "hop-limit",
        None,
    )
    assert policy.decide(msg("planner", hops=2), "w1").allowed
    assert said(policy.decide(msg("planner", size=51), "w2")) == (
        False,
        "size-cap",
        "too-large",
        None,
    )
    assert policy.decide(msg("w2", size=51), "planner").allowed
    assert said(policy.decide(msg("critic", "secret"), "planner")) == (
        False,
        "no-secrets",
        "constitution",
        None,
    )


SHADOW = (
    TEAM
    + """
constitution:
  - {name: cap-trial, max_bytes: 10, mode: shadow}
edges:
  - {name: assign, from: planner, to: workers, kinds: [task]}
  - {name: chat-trial, from: planner, to: critic, kinds: [chat], mode: shadow}
  - {name: quiet-trial, from: planner, to: w3, action: deny, mode: shadow}
"""
)


def test_shadow_rules_count_but_let_through(tmp_path: Path) -> None:
    policy = policy_of(tmp_path, SHADOW)
    assert said(policy.decide(msg("planner", "task", size=20), "w1")) == (
        True,
        "assign",
        "too-large",
        "cap-trial",
    )
    assert said(policy.decide(msg("planner", "task"), "w3")) == (
        True,
        "assign",
        "denied",
        "quiet-trial",
    )
    assert said(policy.decide(msg("planner", "gossip"), "critic")) == (
        True,
        "chat-trial",
        "kind",
        "chat-trial",
    )
    assert said(policy.decide(msg("planner", "chat"), "critic")) == (
        True,
        "chat-trial",
        "allowed",
        None,
    )


def test_shadow_rule_does_not_save_a_message_an_enforced_rule_denies(tmp_path: Path) -> None:
    policy = policy_of(tmp_path, SHADOW)
    assert said(policy.decide(msg("planner", "chat", size=20), "w3")) == (
        False,
        "assign",
        "kind",
        "cap-trial",
    )


def test_default_in_shadow_mode(tmp_path: Path) -> None:
    policy = policy_of(tmp_path, TEAM + "default_mode: shadow\n")
    assert said(policy.decide(msg("planner"), "w1")) == (True, "default", "default-deny", "default")


def test_per_pair_edges_between_listed_agents_use_the_pair_table(team: Policy) -> None:
    assert team.edge_count == 2  # w1 -> w2 and w2 -> planner
    assert said(team.decide(msg("w1"), "w2")) == (True, "w1-to-w2", "allowed", None)


def test_presets_allow_their_edges_and_name_themselves(tmp_path: Path) -> None:
    policy = policy_of(
        tmp_path,
        """
        version: 1
        groups: {g: {members: [a, b, c, d, e]}}
        topology:
          - {preset: ring, group: g, k: 2, kinds: [chat]}
          - {preset: star, group: g, hub: c, name: hub-c}
        """,
    )
    assert said(policy.decide(msg("a", "chat"), "b")) == (True, "ring-g", "allowed", None)
    assert said(policy.decide(msg("a", "chat"), "e")) == (True, "ring-g", "allowed", None)
    assert said(policy.decide(msg("a", "chat"), "c")) == (True, "hub-c", "allowed", None)
    assert said(policy.decide(msg("a", "task"), "b")) == (False, "ring-g", "kind", None)
    assert not policy.decide(msg("a", "chat"), "d").allowed
    assert policy.decide(msg("c"), "a").allowed and policy.decide(msg("d"), "c").allowed
    assert policy.edge_count == 14  # 10 ring + 8 star, of which a-b-c-d-e overlap on 4


def test_recipients_expand_groups_and_report_unknown_names(team: Policy) -> None:
    addressed = Envelope(
        sender="w1", payload=b"", recipients=("workers", "planner", "ghost", "#news")
    )
    result = team.recipients(addressed)
    assert result.resolved == ("w2", "w3", "planner", "#news")
    assert result.unknown == ("ghost",)


def test_unaddressed_messages_fan_out_to_reachable_agents_and_channels(team: Policy) -> None:
    assert team.recipients(Envelope(sender="planner", payload=b"")).resolved == (
        "critic",
        "w1",
        "w2",
        "w3",
        "#news",
    )
    assert team.recipients(Envelope(sender="w1", payload=b"")).resolved == (
        "planner",
        "critic",
        "w2",
    )


def test_filters_attach_globally_per_group_and_per_edge(tmp_path: Path) -> None:
    policy = policy_of(
        tmp_path,
        TEAM
        + """
filters:
  - {filter: hops, name: everywhere}
  - {filter: hops, name: around-workers, attach: {groups: [workers]}}
  - {filter: hops, name: planner-to-critic, attach: {edges: ["planner->critic"]}}
""",
    )

    def names(sender: str, recipient: str) -> list[str | None]:
        return [c.name for c in policy.filters_for(sender, recipient)]

    assert names("planner", "w1") == ["everywhere", "around-workers"]
    assert names("w-9", "critic") == ["everywhere", "around-workers"]
    assert names("planner", "critic") == ["everywhere", "planner-to-critic"]
    assert names("critic", "planner") == ["everywhere"]
    assert names("planner", "ghost") == []


def test_transports_and_topics(tmp_path: Path) -> None:
    policy = policy_of(
        tmp_path,
        """
        version: 1
        agents:
          planner: {}
          critic: {transport: mqtt}
        groups: {workers: {patterns: ["w-*"]}}
        channels:
          news: {topic: team.news}
          radio: {mqtt_topic: team/radio}
        topics: {outbox: "team.{agent}.out", inbox: "team.{agent}.in", quarantine: team.quarantine}
        mqtt: {outbox: "bots/{agent}/out", inbox: "bots/{agent}/in"}
        """,
    )
    assert policy.transport_of("planner") == "kafka"
    assert policy.transport_of("critic") == "mqtt"
    assert policy.transport_of("#radio") == "mqtt" and policy.transport_of("#news") == "kafka"
    assert policy.inbox_topic("planner") == "team.planner.in"
    assert policy.outbox_topic("planner") == "team.planner.out"
    assert policy.inbox_topic("critic") == "bots/critic/in"
    assert policy.outbox_topic("critic") == "bots/critic/out"
    assert policy.inbox_topic("#news") == "team.news"
    assert policy.inbox_topic("#radio") == "team/radio"
    assert policy.quarantine_topic == "team.quarantine"
    assert policy.agent_of_outbox("team.w-7.out") == "w-7"
    assert policy.agent_of_outbox("bots/critic/out") == "critic"
    assert policy.agent_of_outbox("team.w1.in") is None
    assert policy.mqtt_outbox_filter == "bots/+/out"
    import re

    pattern = re.compile(policy.outbox_pattern)
    assert pattern.match("team.a.b.out") and not pattern.match("team.a.in")


def test_group_transport_applies_to_pattern_members(tmp_path: Path) -> None:
    policy = policy_of(
        tmp_path,
        "version: 1\ngroups: {bots: {patterns: ['bot-*'], transport: mqtt}}\n",
    )
    assert policy.transport_of("bot-1") == "mqtt"
    assert policy.inbox_topic("bot-1") == "agents/bot-1/in"
    assert policy.transport_of("human") == "kafka"


def test_group_sizes_count_listed_and_seen_members(team: Policy) -> None:
    assert team.group_size("workers") == 3
    team.decide(msg("w-1"), "planner")
    team.decide(msg("w-2"), "planner")
    team.decide(msg("w-1"), "planner")
    assert team.group_size("workers") == 5
    assert team.group_size("nothing") == 0
    assert team.group_of("planner") == "leads"
    assert team.group_of("stranger") == "default"


def test_dynamic_agents_are_kept_in_a_bounded_cache(tmp_path: Path) -> None:
    from bus.rules.membership import Membership

    path = tmp_path / "cap.yaml"
    path.write_text(TEAM, encoding="utf-8")
    rules = load_rules(path)
    resolver = Resolver(rules, Membership(rules), {"workers": 0}, capacity=4)
    for i in range(50):
        info = resolver.agent(f"w-{i}")
        assert info.known and info.group == "workers" and info.index == -1
    assert resolver.dynamic_members == {"workers": 4}
    assert resolver.agent("w-49") is resolver.agent("w-49")
    assert resolver.agent("w1").index == 2


def test_version_is_a_hash_of_the_content_not_the_format(tmp_path: Path) -> None:
    yaml_policy = policy_of(tmp_path, "version: 1\nagents: {a: {}, b: {}}\n")
    spaced = policy_of(tmp_path, "version: 1\nagents:\n  a: {}\n  b: {}\n", "spaced.yaml")
    toml_policy = policy_of(tmp_path, "version = 1\n[agents.a]\n[agents.b]\n", "rules.toml")
    changed = policy_of(tmp_path, "version: 1\nagents: {a: {}, c: {}}\n", "changed.yaml")
    assert len(yaml_policy.version) == 12
    assert yaml_policy.version == spaced.version == toml_policy.version
    assert changed.version != yaml_policy.version


def test_policy_offers_every_policy_view_member(team: Policy) -> None:
    from bus.decision import PolicyView

    members = [
        name for name in dir(PolicyView) if not name.startswith("_") and name not in dir(object)
    ]
    assert members, "PolicyView lists its members"
    assert all(hasattr(team, name) for name in members)
    assert team.agents == ("planner", "critic", "w1", "w2", "w3")
    assert isinstance(team.rules, RulesFile)


def test_compile_validates_rules_built_in_code() -> None:
    rules = RulesFile(
        version=1,
        groups={"g": GroupSpec(members=("a", "b"))},
        edges=(EdgeRule(name="e", from_="g", to="nobody"),),
    )
    with pytest.raises(ConfigError) as caught:
        compile_policy(rules)
    assert caught.value.path == "$.edges[0].to"
    assert "unknown agent or group 'nobody'" in caught.value.message


def test_class_table_cache_is_bounded_and_recomputes_evicted_entries() -> None:
    from bus.policy.rule import CompiledRule
    from bus.policy.tables import ClassTable, Selected

    rule = CompiledRule(name="r", layer="allow", order=0, shadow=False)
    signatures = [frozenset({i}) for i in range(10)]
    table = ClassTable(
        signatures, [(Selected(frozenset({0}), frozenset({1, 2, 3})), rule)], [], capacity=3
    )
    assert table.get(0, 1).allows == (rule,)
    for recipient in range(2, 10):
        table.get(0, recipient)
    assert len(table._cache) == 3
    assert table.get(0, 1).allows == (rule,)
    assert table.get(1, 0).allows == ()


def test_filter_lists_are_shared_per_class_pair(tmp_path: Path) -> None:
    policy = policy_of(tmp_path, TEAM + "filters: [{filter: hops, attach: {groups: [workers]}}]\n")
    assert policy.filters_for("w1", "planner") is policy.filters_for("w2", "planner")
