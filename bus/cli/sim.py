"""``membrane sim``: run a swarm scenario through membrane and report what it measured.

Each run starts an embedded broker (or uses ``--bootstrap``) and a relay,
plays the scenario's agents as Kafka clients through it in logical rounds,
and checks the books: every message sent was delivered or quarantined.
Prints a markdown table (mean ± sd over repeats) and writes into ``--out``:
``<scenario>.md`` (the table and the command that made it),
``<scenario>.csv`` (one row per run), ``<scenario>-series.csv`` (per-round
means), ``<scenario>.png`` and ``rules/`` (each condition's rules file).
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
from pathlib import Path

from bus.sim.harness import write_rules
from bus.sim.report import aggregate, markdown_table, write_runs_csv, write_series_csv
from bus.sim.runner import RunResult, run_all
from bus.sim.specs import SPECS, Spec, add_scenario_arguments, text_list


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Run a swarm scenario through a membrane relay and report what it "
                          "measured: a markdown table, CSV files and a figure.")
    parser.add_argument("scenario", choices=sorted(SPECS), help="which scenario to run")
    parser.add_argument("--topology", type=text_list,
                        help="topology presets to compare, comma-separated")
    parser.add_argument("--agents", type=int, help="number of agents (loops: of clients)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the first repeat")
    parser.add_argument("--repeats", type=int, help="runs per condition")
    parser.add_argument("--rounds", type=int, help="logical rounds per run")
    parser.add_argument("--degree", type=int, default=4,
                        help="k of ring, small_world and random_k_out")
    parser.add_argument("--rewire", type=float, default=0.1,
                        help="small_world rewiring probability")
    parser.add_argument("--out", type=Path, help="directory for the table, CSV and figure")
    parser.add_argument("--backend", choices=("kafka", "local"), default="kafka",
                        help="kafka: relay and broker (default); local: the engine in memory")
    parser.add_argument("--bootstrap", help="use this Kafka cluster instead of an embedded broker")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    add_scenario_arguments(parser)


def command_line(spec: Spec, args: argparse.Namespace, repeats: int) -> str:
    words = ["membrane", "sim", spec.name, *spec.options(args), "--seed", str(args.seed),
             "--repeats", str(repeats)]
    if args.backend != "kafka":
        words += ["--backend", args.backend]
    return shlex.join(words)


def _progress(result: RunResult, done: int, total: int) -> None:
    record = result.record
    labels = ", ".join(f"{k}={v}" for k, v in result.condition.labels.items())
    rate = record.summary["delivered"] / record.wall_seconds if record.wall_seconds else 0.0
    print(f"[{done}/{total}] {labels} seed={result.seed}: {record.wall_seconds:.1f}s, "
          f"{record.ledger.sent} sent, {record.ledger.delivered} delivered "
          f"({rate:,.0f}/s), {record.ledger.quarantined} quarantined",
          file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    spec = SPECS[args.scenario]
    try:
        conditions = spec.conditions(args)
    except argparse.ArgumentTypeError as exc:
        print(f"membrane sim: {exc}", file=sys.stderr)
        return 2
    repeats = args.repeats or spec.default_repeats
    if repeats < 1:
        print("membrane sim: --repeats must be at least 1", file=sys.stderr)
        return 2
    out: Path = args.out or Path("sim-results") / spec.name
    out.mkdir(parents=True, exist_ok=True)
    command = command_line(spec, args, repeats)
    results = asyncio.run(run_all(conditions, seed=args.seed, repeats=repeats,
                                  backend=args.backend, bootstrap=args.bootstrap,
                                  progress=None if args.quiet else _progress))
    groups = aggregate(results)
    table = markdown_table(groups, spec.metrics)
    print(f"## {spec.title}\n\n{table}")
    (out / f"{spec.name}.md").write_text(
        f"## {spec.title}\n\nRegenerate with:\n\n```\n{command}\n```\n\n{table}",
        encoding="utf-8")
    written = [out / f"{spec.name}.md", write_runs_csv(results, out / f"{spec.name}.csv")]
    if spec.series_metric is not None:
        written.append(write_series_csv(groups, spec.series_metric,
                                        out / f"{spec.name}-series.csv"))
    written.append(spec.figure(groups, out / f"{spec.name}.png", args))
    for condition in conditions:
        name = "-".join(condition.key).replace("(", "").replace(")", "").replace("=", "")
        write_rules(condition.build(args.seed).rules, out / "rules" / f"{name}.yaml")
    print("written: " + ", ".join(str(p) for p in written) + f", {out / 'rules'}/")
    return 0
