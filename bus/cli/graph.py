"""``membrane graph RULES…``: the effective topology as Graphviz DOT or JSON.

Agents are clustered by their interaction group, channels are drawn as
boxes, edges allowed only by shadow-mode rules are dashed, and an edge
limited to some message kinds is labelled with them. ``--png FILE`` renders
the DOT with Graphviz's ``dot`` when it is installed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from bus.errors import ConfigError
from bus.policy.compile import load_policy
from bus.policy.graph import Graph, GraphTooLarge, build_graph
from bus.policy.policy import Policy

RENDER_TIMEOUT = 120.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rules", nargs="+", metavar="RULES", help="rules files (merged in order)")
    parser.add_argument("--format", choices=("dot", "json"), default="dot")
    parser.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    parser.add_argument("--png", metavar="FILE", help="also render a PNG with Graphviz 'dot'")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(policy: Policy, graph: Graph) -> str:
    return "\n".join(_dot_lines(policy, graph)) + "\n"


def _dot_lines(policy: Policy, graph: Graph) -> Iterator[str]:
    yield f"digraph membrane {{  // policy {policy.version}"
    yield "  rankdir=LR;"
    yield '  node [shape=ellipse, fontname="Helvetica"];'
    yield '  edge [fontname="Helvetica", fontsize=10];'
    clusters: dict[str, list[str]] = {}
    for agent in graph.nodes:
        clusters.setdefault(policy.group_of(agent), []).append(agent)
    for number, (group, agents) in enumerate(clusters.items()):
        yield f"  subgraph cluster_{number} {{"
        yield f"    label={_quote(group)};"
        for agent in agents:
            shape = (
                ", style=filled, fillcolor=lightyellow"
                if policy.transport_of(agent) == "mqtt"
                else ""
            )
            yield f"    {_quote(agent)} [label={_quote(agent)}{shape}];"
        yield "  }"
    for channel in graph.channels:
        yield f"  {_quote(channel)} [shape=box];"
    for edge in graph.edges:
        attributes = [f"tooltip={_quote(edge.rule)}"]
        if edge.kinds:
            attributes.append(f"label={_quote(','.join(edge.kinds))}")
        if edge.shadow:
            attributes.append("style=dashed")
        yield f"  {_quote(edge.source)} -> {_quote(edge.target)} [{', '.join(attributes)}];"
    yield "}"


def to_json(policy: Policy, graph: Graph) -> str:
    nodes = [
        {
            "id": agent,
            "type": "agent",
            "groups": list(policy.groups_of(agent)),
            "transport": policy.transport_of(agent),
        }
        for agent in graph.nodes
    ]
    nodes.extend(
        {"id": channel, "type": "channel", "groups": [], "transport": policy.transport_of(channel)}
        for channel in graph.channels
    )
    edges = [
        {
            "from": edge.source,
            "to": edge.target,
            "rule": edge.rule,
            "mode": "shadow" if edge.shadow else "enforce",
            "kinds": list(edge.kinds) if edge.kinds is not None else None,
        }
        for edge in graph.edges
    ]
    return json.dumps({"version": policy.version, "nodes": nodes, "edges": edges}, indent=2) + "\n"


def render_png(dot_source: str, target: str) -> None:
    dot = shutil.which("dot")
    if dot is None:
        raise ConfigError("Graphviz 'dot' is not installed (Debian: apt-get install graphviz)")
    try:
        subprocess.run(
            [dot, "-Tpng", "-o", target],
            input=dot_source.encode(),
            check=True,
            capture_output=True,
            timeout=RENDER_TIMEOUT,
        )
    except subprocess.CalledProcessError as exc:
        detail = exc.stderr.decode(errors="replace").strip()
        raise ConfigError(f"dot failed to render {target}: {detail}") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"dot did not finish rendering within {RENDER_TIMEOUT:.0f} s") from None


def run(args: argparse.Namespace) -> int:
    try:
        policy = load_policy(*args.rules)
        graph = build_graph(policy)
        text = to_json(policy, graph) if args.format == "json" else to_dot(policy, graph)
        if args.png:
            render_png(to_dot(policy, graph) if args.format == "json" else text, args.png)
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    except (ConfigError, GraphTooLarge) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0
