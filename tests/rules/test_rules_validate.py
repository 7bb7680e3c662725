"""Cross-reference errors and contradictions: each message, its path and its line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bus.errors import ConfigError
from bus.rules import load_checked, load_rules
from bus.rules import selectors as sel


def check(tmp_path: Path, text: str) -> tuple[list[ConfigError], list[ConfigError]]:
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    loaded = load_checked(path)
    return list(loaded.errors), list(loaded.warnings)


def only_error(tmp_path: Path, text: str) -> ConfigError:
    errors, _ = check(tmp_path, text)
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0]


TEAM = """
version: 1
agents:
  planner: {groups: [leads]}
groups:
  leads: {}
  workers: {members: [worker-1, worker-2], patterns: ["worker-*"]}
"""


@pytest.mark.parametrize(
    ("snippet", "message", "path", "position"),
    [
        (
            "\nedges:\n  - {name: assign, from: planner, to: [workrs]}\n",
            "unknown agent or group 'workrs' (did you mean 'workers'?) in rule 'assign'",
            "$.edges[0].to[0]",
            (9, 40),
        ),
        (
            "constitution:\n  - {name: c, from: nobody}\n",
            "unknown agent or group 'nobody' in rule 'c'",
            "$.constitution[0].from",
            (8, 21),
        ),
        (
            "channels: {news: {topic: t.news}}\n"
            "edges:\n  - {name: e, from: planner, to: '#nwes'}\n",
            "unknown channel '#nwes' (did you mean 'news'?) in rule 'e'",
            "$.edges[0].to",
            (9, 34),
        ),
        (
            "edges:\n  - {name: e, from: 'wrker-*', to: planner}\n",
            "pattern 'wrker-*' matches no agent and no group pattern in rule 'e'",
            "$.edges[0].from",
            (8, 21),
        ),
    ],
    ids=["unknown-recipient", "unknown-constitution-sender", "unknown-channel",
         "pattern-matching-nothing"],
)
def test_a_selector_naming_nothing_is_an_error_with_a_suggestion_and_its_place(
    tmp_path: Path, snippet: str, message: str, path: str, position: tuple[int, int]
) -> None:
    error = only_error(tmp_path, TEAM + snippet)
    assert error.message == message
    assert error.path == path
    assert (error.line, error.column) == position


@pytest.mark.parametrize("pattern", ["robot-[0-9]*", "robot-[!x]", "robot-?"])
def test_sample_of_a_pattern_matches_it(pattern: str) -> None:
    assert sel.matches(pattern, sel.sample_of(pattern))


def test_pattern_index_finds_every_matching_glob_and_only_those() -> None:
    globs = ["w-*", "w-1*", "w-[0-9]", "x*", "*-1", "w-?"]
    index = sel.PatternIndex((g, g) for g in globs)
    for agent in ["w-1", "w-12", "w-a", "x", "y-1", "w", ""]:
        expected = {g for g in globs if sel.matches(g, agent)}
        assert set(index.matching(agent)) == expected, agent
    assert not sel.PatternIndex([])


def test_pattern_covered_by_a_group_pattern_is_accepted(tmp_path: Path) -> None:
    errors, _ = check(
        tmp_path,
        """
        version: 1
        groups: {robots: {patterns: ["robot-*"]}, base: {members: [hq]}}
        edges: [{name: e, from: "robot-1?", to: hq}]
        """,
    )
    assert errors == []


def test_unknown_group_of_an_agent(tmp_path: Path) -> None:
    error = only_error(
        tmp_path, "version: 1\nagents:\n  a: {groups: [leeds]}\ngroups: {leads: {}}\n"
    )
    assert error.message == "unknown group 'leeds' (did you mean 'leads'?)"
    assert error.path == "$.agents.a.groups[0]"
    assert error.line == 3


def test_agent_and_group_share_a_name(tmp_path: Path) -> None:
    error = only_error(tmp_path, "version: 1\nagents: {ops: {}}\ngroups: {ops: {}}\n")
    assert error.message == "'ops' is both an agent and a group"


def test_groups_do_not_nest(tmp_path: Path) -> None:
    error = only_error(tmp_path, "version: 1\ngroups: {a: {members: [b]}, b: {}}\n")
    assert "member 'b' is a group" in error.message
    assert error.path == "$.groups.a.members[0]"


def test_bad_agent_name(tmp_path: Path) -> None:
    error = only_error(tmp_path, "version: 1\nagents: {'bad name': {}}\n")
    assert error.message.startswith("agent name 'bad name' must start with a letter or digit")
    assert error.line == 2


def test_duplicate_and_reserved_rule_names(tmp_path: Path) -> None:
    errors, _ = check(
        tmp_path,
        """
        version: 1
        agents: {a: {}, b: {}}
        edges:
          - {name: e, from: a, to: b}
          - {name: e, from: b, to: a}
          - {name: default, from: a, to: b}
        """,
    )
    messages = [e.message for e in errors]
    assert "rule name 'e' is already used at $.edges[0].name" in messages
    assert "rule name 'default' is reserved for the default deny" in messages


@pytest.mark.parametrize(
    ("preset", "message"),
    [
        ("{preset: ring, group: g, k: 4}", "ring k=4 must be smaller than the group size 4"),
        ("{preset: ring, group: g, k: 3}", "ring k=3 must be even (k/2 neighbours on each side)"),
        (
            "{preset: small_world, group: g, k: 6}",
            "small_world k=6 must be smaller than the group size 4",
        ),
        (
            "{preset: random_k_out, group: g, k: 4}",
            "random_k_out k=4 must be smaller than the group size 4",
        ),
        ("{preset: full, group: lonely}", "preset full needs at least 2 members, group has 1"),
        (
            "{preset: tree, group: patterns-only}",
            "preset tree needs at least 2 members, group has 0",
        ),
    ],
)
def test_impossible_preset_parameters(tmp_path: Path, preset: str, message: str) -> None:
    error = only_error(
        tmp_path,
        f"""
        version: 1
        groups:
          g: {{members: [a, b, c, d]}}
          lonely: {{members: [solo]}}
          patterns-only: {{patterns: ["x-*"]}}
        topology:
          - {preset}
        """,
    )
    assert error.message.startswith(message)
    assert error.path == "$.topology[0]"
    assert error.line == 7


def test_preset_over_an_unknown_group(tmp_path: Path) -> None:
    error = only_error(tmp_path, "version: 1\ntopology: [{preset: full, group: nope}]\n")
    assert error.message == "unknown group 'nope'"
    assert error.path == "$.topology[0].group"


def test_star_hub_must_be_a_member(tmp_path: Path) -> None:
    error = only_error(
        tmp_path,
        "version: 1\ngroups: {g: {members: [a, b]}}\n"
        "topology: [{preset: star, group: g, hub: c}]\n",
    )
    assert error.message == "hub 'c' is not a member of group 'g'"


def test_filter_attached_to_unknown_group_or_malformed_edge(tmp_path: Path) -> None:
    errors, _ = check(
        tmp_path,
        """
        version: 1
        agents: {a: {}, b: {}}
        filters:
          - {filter: hops, attach: {groups: [nobody], edges: ["a=>b", "a->ghost"]}}
        """,
    )
    assert [(e.path, e.message) for e in errors] == [
        ("$.filters[0].attach.groups[0]", "unknown group 'nobody'"),
        ("$.filters[0].attach.edges[0]", "attach edge 'a=>b' must look like 'from->to'"),
        ("$.filters[0].attach.edges[1]", "unknown agent or group 'ghost'"),
    ]


@pytest.mark.parametrize(
    ("snippet", "path", "message"),
    [
        ("topics: {outbox: 'agents.out'}", "$.topics", "must contain {agent} exactly once"),
        ("topics: {inbox: 'a.{agent}.{x}'}", "$.topics", "may only use the {agent} placeholder"),
        ("topics: {quarantine: 'bad topic'}", "$.topics", "may only contain letters"),
        ("channels: {c: {}}", "$.channels.c", "a channel needs topic (Kafka) or mqtt_topic"),
        ("channels: {c: {mqtt_topic: 'a/#'}}", "$.channels.c", "without wildcards"),
        (
            "edges: [{name: e, from: a, to: b, action: deny, max_bytes: 5}]",
            "$.edges[0]",
            "a deny rule takes only kinds as a condition",
        ),
        ("edges: [{name: e, from: '#c', to: b}]", "$.edges[0]", "a channel cannot send"),
        ("edges: [{name: e, from: [], to: b}]", "$.edges[0]", "from and to must each name"),
        ("kafka: {bootstrap: 'localhost'}", "$.kafka", "must be host:port"),
        (
            "kafka: {security_protocol: SASL_SSL}",
            "$.kafka",
            "SASL_SSL needs sasl_mechanism and sasl_username",
        ),
        ("mqtt: {outbox: 'agents/+/{agent}'}", "$.mqtt", "without wildcards"),
        ("mqtt: {cert_file: c.pem}", "$.mqtt", "cert_file and key_file go together"),
        ("mqtt: {inbox: 'in/{agent}-x'}", "$.mqtt", "must use {agent} as a whole level"),
        ("edges: [{name: e, from: a, to: b, kinds: ['']}]", "$.edges[0]", "must be 1 to 128"),
        ("edges: [{name: e, from: a, to: b, kinds: [x, x]}]", "$.edges[0]", "a kind twice"),
        (
            "constitution: [{name: c, max_hops: 0}]",
            "$.constitution[0]",
            "max_hops must be at least 1",
        ),
        ("sensors: {window_seconds: -1}", "$.sensors", "window_seconds must be positive"),
    ],
)
def test_structural_value_errors(tmp_path: Path, snippet: str, path: str, message: str) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"version: 1\nagents: {{a: {{}}, b: {{}}}}\n{snippet}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_rules(rules)
    assert caught.value.path == path
    assert message in caught.value.message
    assert caught.value.line == 3


def test_deny_that_covers_an_allow_completely_is_an_error(tmp_path: Path) -> None:
    error = only_error(
        tmp_path,
        TEAM
        + """
edges:
  - {name: assign, from: planner, to: workers, kinds: [task]}
  - {name: quiet, from: leads, to: "*", action: deny}
""",
    )
    assert error.message == (
        "allow rule 'assign' can never apply: deny rule 'quiet' covers every sender, "
        "recipient and kind it allows"
    )
    assert error.path == "$.edges[0]"


@pytest.mark.parametrize(
    "edges",
    [
        """
  - {name: assign, from: planner, to: workers, kinds: [task, chat]}
  - {name: no-chat, from: planner, to: workers, kinds: [chat], action: deny}
  - {name: spare-one, from: planner, to: worker-2, action: deny}
""",
        """
  - {name: assign, from: planner, to: workers}
  - {name: deny-listed, from: planner, to: [worker-1, worker-2], action: deny}
""",
        """
  - {name: assign, from: planner, to: workers}
  - {name: trial, from: "*", to: "*", action: deny, mode: shadow}
""",
    ],
    # A deny that carves out part of an allow; one over the listed members, which
    # misses the agents a group pattern admits; a shadow deny, which blocks nothing.
    ids=["carve-out", "listed-members-beside-a-pattern", "shadow-deny"],
)
def test_a_deny_that_leaves_part_of_an_allow_live_is_accepted(tmp_path: Path, edges: str) -> None:
    errors, warnings = check(tmp_path, TEAM + "\nedges:" + edges)
    assert errors == [] and warnings == []


def test_deny_covering_a_preset_is_an_error(tmp_path: Path) -> None:
    error = only_error(
        tmp_path,
        """
        version: 1
        groups: {g: {members: [a, b, c]}}
        topology: [{preset: ring, group: g, name: circle}]
        edges: [{name: none, from: g, to: g, action: deny}]
        """,
    )
    assert error.message.startswith("allow rule 'circle' can never apply: deny rule 'none'")
    assert error.path == "$.topology[0]"


def test_constitution_overlapping_an_allow_is_a_warning(tmp_path: Path) -> None:
    errors, warnings = check(
        tmp_path,
        TEAM
        + """
constitution:
  - {name: no-orders, from: leads, to: worker-2, kinds: [task, order]}
edges:
  - {name: assign, from: planner, to: workers, kinds: [task, chat]}
""",
    )
    assert errors == []
    assert [w.message for w in warnings] == [
        "constitution rule 'no-orders' denies what allow rule 'assign' permits "
        "(e.g. planner -> worker-2, kind task); the constitution wins"
    ]
    assert warnings[0].path == "$.constitution[0]"
    assert warnings[0].line == 9


def test_constitution_over_other_kinds_is_not_a_conflict(tmp_path: Path) -> None:
    _, warnings = check(
        tmp_path,
        TEAM
        + """
constitution:
  - {name: no-orders, from: leads, to: workers, kinds: [order]}
edges:
  - {name: assign, from: planner, to: workers, kinds: [task]}
""",
    )
    assert warnings == []


def test_allow_bigger_than_the_constitution_size_cap_is_a_warning(tmp_path: Path) -> None:
    _, warnings = check(
        tmp_path,
        TEAM
        + """
constitution:
  - {name: cap, max_bytes: 1000}
edges:
  - {name: assign, from: planner, to: workers, max_bytes: 5000}
  - {name: report, from: workers, to: planner, max_bytes: 500}
""",
    )
    assert [w.message for w in warnings] == [
        "constitution rule 'cap' caps at 1000 bytes what allow rule 'assign' permits "
        "(e.g. planner -> worker-1); the constitution wins"
    ]
