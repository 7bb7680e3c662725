"""The effective topology and the figures and warnings `membrane check` prints."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bus.policy import Policy, load_policy
from bus.policy.analysis import summarize
from bus.policy.graph import GraphTooLarge, build_graph


def policy_of(tmp_path: Path, text: str) -> Policy:
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return load_policy(path)


def pairs(policy: Policy) -> set[tuple[str, str]]:
    return {(e.source, e.target) for e in build_graph(policy).edges}


def test_edges_follow_allows_minus_blanket_denies(tmp_path: Path) -> None:
    policy = policy_of(
        tmp_path,
        """
        version: 1
        groups: {g: {members: [a, b, c]}}
        channels: {log: {topic: t.log}}
        constitution:
          - {name: c-is-mute, from: c}
          - {name: hops, max_hops: 3}
        edges:
          - {name: all, from: g, to: g}
          - {name: no-b-to-a, from: b, to: a, action: deny}
          - {name: no-task, from: a, to: b, action: deny, kinds: [task]}
          - {name: log, from: a, to: "#log"}
        """,
    )
    assert pairs(policy) == {("a", "b"), ("a", "c"), ("b", "c"), ("a", "#log")}


def test_kind_limited_denies_remove_only_fully_covered_allows(tmp_path: Path) -> None:
    policy = policy_of(
        tmp_path,
        """
        version: 1
        agents: {a: {}, b: {}, c: {}}
        edges:
          - {name: tasks, from: a, to: [b, c], kinds: [task]}
          - {name: no-tasks-to-b, from: a, to: b, action: deny, kinds: [task, chat]}
        """,
    )
    graph = build_graph(policy)
    assert [(e.source, e.target, e.rule, e.kinds) for e in graph.edges] == [
        ("a", "c", "tasks", ("task",))
    ]


def test_shadow_edges_are_marked(tmp_path: Path) -> None:
    policy = policy_of(
        tmp_path,
        """
        version: 1
        groups: {g: {members: [a, b, c]}}
        topology: [{preset: ring, group: g, mode: shadow}]
        """,
    )
    edges = build_graph(policy).edges
    assert len(edges) == 6 and all(e.shadow and e.rule == "ring-g" for e in edges)


def test_summary_of_a_star(tmp_path: Path) -> None:
    policy = policy_of(
        tmp_path,
        """
        version: 1
        groups: {g: {members: [hub, a, b, c]}}
        topology: [{preset: star, group: g}]
        """,
    )
    summary = summarize(policy, build_graph(policy))
    assert (summary.agents, summary.edges, summary.presets) == (4, 6, 1)
    assert summary.density == 0.5
    assert (summary.out_degree.min, summary.out_degree.max, summary.out_degree.mean) == (1, 3, 1.5)
    assert (summary.weak_components, summary.strong_components) == (1, 1)
    assert summary.warnings == []
    assert summary.version == policy.version


def test_warnings_for_unreachable_isolated_and_split_agents(tmp_path: Path) -> None:
    policy = policy_of(
        tmp_path,
        """
        version: 1
        agents: {boss: {}, a: {}, b: {}, hermit: {}, x: {}, y: {}}
        edges:
          - {name: orders, from: boss, to: [a, b]}
          - {name: pair, from: a, to: b}
          - {name: xy, from: x, to: y}
          - {name: yx, from: y, to: x}
        """,
    )
    summary = summarize(policy, build_graph(policy))
    assert summary.warnings == [
        "1 agent(s) can neither send nor receive: hermit",
        "1 agent(s) have no in-edges: boss",
        "the topology falls into 3 components (sizes 3, 2, 1)",
    ]
    assert summary.weak_components == 3
    assert summary.largest_component == 3
    assert summary.strong_components == 5  # {x, y} and four singletons


def test_graph_size_is_capped(tmp_path: Path) -> None:
    policy = policy_of(
        tmp_path,
        """
        version: 1
        groups: {g: {members: [a, b, c, d]}}
        edges: [{name: all, from: g, to: g}]
        """,
    )
    with pytest.raises(GraphTooLarge, match="more than 5 edges"):
        build_graph(policy, max_edges=5)
