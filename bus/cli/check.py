"""``membrane check RULES…``: validate rules files and summarise the topology.

Every error and warning is printed with its file, line, column and
``$.path``. Exit status: 0 valid, 1 invalid (or, with ``--strict``, valid
with warnings), 2 usage error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from bus.errors import ConfigError
from bus.policy.analysis import Summary, summarize
from bus.policy.compile import compile_policy
from bus.policy.graph import GraphTooLarge, build_graph
from bus.rules.loader import load_checked


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rules", nargs="+", metavar="RULES", help="rules files (merged in order)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--strict", action="store_true", help="treat warnings as errors (exit 1 when any)"
    )


def _print_summary(label: str, summary: Summary) -> None:
    groups = ", ".join(f"{name} {size}" for name, size in summary.groups.items()) or "none"
    out, into = summary.out_degree, summary.in_degree
    lines = [
        f"{label}: valid (policy {summary.version})",
        f"  agents      {summary.agents} listed"
        + (
            f", plus {summary.patterns} pattern(s) for agents that come and go"
            if summary.patterns
            else ""
        ),
        f"  groups      {groups}",
        f"  channels    {summary.channels}",
        f"  rules       {summary.presets} preset(s), {summary.edge_rules} edge rule(s), "
        f"{summary.constitution_rules} constitution rule(s), {summary.filters} filter(s)",
        f"  edges       {summary.edges} between agents, {summary.channel_edges} to channels; "
        f"density {summary.density}",
        f"  out-degree  min {out.min}, mean {out.mean}, max {out.max}",
        f"  in-degree   min {into.min}, mean {into.mean}, max {into.max}",
        f"  components  {summary.weak_components} weakly connected "
        f"(largest {summary.largest_component}), {summary.strong_components} strongly connected",
    ]
    print("\n".join(lines))


def run(args: argparse.Namespace) -> int:
    label = ", ".join(args.rules)
    try:
        loaded = load_checked(*args.rules)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for error in loaded.errors:
        print(f"error: {error}", file=sys.stderr)
    if loaded.errors:
        count = len(loaded.errors)
        print(f"{label}: invalid ({count} error{'s' if count > 1 else ''})", file=sys.stderr)
        return 1
    warnings = [str(w) for w in loaded.warnings]
    policy = compile_policy(loaded.rules, check=False)
    try:
        summary: Summary | None = summarize(policy, build_graph(policy))
    except GraphTooLarge as exc:
        summary = None
        warnings.append(f"{exc}; graph figures are not computed")
    if summary is not None:
        warnings.extend(summary.warnings)
    if args.json:
        document: dict[str, object] = {"version": policy.version}
        if summary is not None:
            document = dataclasses.asdict(summary)
        document["warnings"] = warnings
        print(json.dumps(document, indent=2))
    else:
        if summary is not None:
            _print_summary(label, summary)
        else:
            print(f"{label}: valid (policy {policy.version})")
        for warning in warnings:
            print(f"warning: {warning}")
    return 1 if args.strict and warnings else 0
