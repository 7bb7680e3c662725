"""Figures and warnings about an effective topology, for ``membrane check``.

Connected components are counted over agents only (channels are sinks):
weakly connected with union-find, strongly connected with an iterative
Kosaraju pass, both O(nodes + edges).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import fmean

from bus.policy.graph import Graph
from bus.policy.policy import Policy

LISTED: int = 8


@dataclass(frozen=True)
class DegreeStats:
    min: int
    mean: float
    max: int

    @staticmethod
    def of(values: list[int]) -> DegreeStats:
        if not values:
            return DegreeStats(0, 0.0, 0)
        return DegreeStats(min(values), round(fmean(values), 3), max(values))


@dataclass(frozen=True)
class Summary:
    version: str
    agents: int
    patterns: int
    groups: dict[str, int]
    channels: int
    presets: int
    edge_rules: int
    constitution_rules: int
    filters: int
    edges: int
    channel_edges: int
    density: float
    out_degree: DegreeStats
    in_degree: DegreeStats
    weak_components: int
    largest_component: int
    strong_components: int
    warnings: list[str] = field(default_factory=list)


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:LISTED])
    return shown + (f" and {len(items) - LISTED} more" if len(items) > LISTED else "")


def _weak_components(n: int, pairs: list[tuple[int, int]]) -> list[int]:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for u, v in pairs:
        ru, rv = find(u), find(v)
        if ru != rv:
            parent[ru] = rv
    sizes: dict[int, int] = {}
    for x in range(n):
        root = find(x)
        sizes[root] = sizes.get(root, 0) + 1
    return sorted(sizes.values(), reverse=True)


def _strong_components(n: int, out: list[list[int]]) -> int:
    reverse: list[list[int]] = [[] for _ in range(n)]
    for u, targets in enumerate(out):
        for v in targets:
            reverse[v].append(u)
    order: list[int] = []
    visited = [False] * n
    for start in range(n):
        if visited[start]:
            continue
        visited[start] = True
        stack = [(start, 0)]
        while stack:
            node, i = stack[-1]
            if i < len(out[node]):
                stack[-1] = (node, i + 1)
                nxt = out[node][i]
                if not visited[nxt]:
                    visited[nxt] = True
                    stack.append((nxt, 0))
            else:
                stack.pop()
                order.append(node)
    assigned = [False] * n
    count = 0
    for start in reversed(order):
        if assigned[start]:
            continue
        count += 1
        assigned[start] = True
        pending = [start]
        while pending:
            node = pending.pop()
            for nxt in reverse[node]:
                if not assigned[nxt]:
                    assigned[nxt] = True
                    pending.append(nxt)
    return count


def summarize(policy: Policy, graph: Graph) -> Summary:
    rules = policy.rules
    index = {agent: i for i, agent in enumerate(graph.nodes)}
    n = len(graph.nodes)
    out: list[list[int]] = [[] for _ in range(n)]
    indegree = [0] * n
    pairs: list[tuple[int, int]] = []
    channel_edges = 0
    for edge in graph.edges:
        target = index.get(edge.target)
        if target is None:
            channel_edges += 1
            continue
        source = index[edge.source]
        out[source].append(target)
        indegree[target] += 1
        pairs.append((source, target))
    components = _weak_components(n, pairs)
    outdegree = [len(targets) for targets in out]
    warnings: list[str] = []
    isolated = [a for i, a in enumerate(graph.nodes) if not outdegree[i] and not indegree[i]]
    unreached = [a for i, a in enumerate(graph.nodes) if not indegree[i] and outdegree[i]]
    if isolated:
        warnings.append(
            f"{len(isolated)} agent(s) can neither send nor receive: {_names(isolated)}"
        )
    if unreached:
        warnings.append(f"{len(unreached)} agent(s) have no in-edges: {_names(unreached)}")
    if len(components) > 1:
        sizes = ", ".join(str(s) for s in components[:LISTED])
        warnings.append(f"the topology falls into {len(components)} components (sizes {sizes})")
    return Summary(
        version=policy.version,
        agents=n,
        patterns=sum(len(g.patterns) for g in rules.groups.values()),
        groups={name: policy.group_size(name) for name in rules.groups},
        channels=len(graph.channels),
        presets=len(rules.topology),
        edge_rules=len(rules.edges),
        constitution_rules=len(rules.constitution),
        filters=len(rules.filters),
        edges=len(pairs),
        channel_edges=channel_edges,
        density=round(len(pairs) / (n * (n - 1)), 4) if n > 1 else 0.0,
        out_degree=DegreeStats.of(outdegree),
        in_degree=DegreeStats.of(indegree),
        weak_components=len(components),
        largest_component=components[0] if components else 0,
        strong_components=_strong_components(n, out),
        warnings=warnings,
    )
