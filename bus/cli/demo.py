"""``membrane demo``: a herd forming and loops starting, and membrane damping both.

One embedded broker, two relays, the same swarm played twice side by side
(``bus.sim.showcase``): once with rules that only wire the topology, once
with membrane's damping filters. A live table shows the key signals as the
rounds go by; at the end the figure and the per-round numbers are written
to ``--out``. Takes about ``--seconds`` plus a few seconds to start.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from bus.embedded import EmbeddedBroker
from bus.sim import figures
from bus.sim.harness import run_kafka
from bus.sim.showcase import ROUNDS, ShowcaseSwarm

RUNS = {"without damping": False, "with membrane damping": True}

Point = Mapping[str, float]

ROWS: tuple[tuple[str, str, Callable[[Point], str]], ...] = (
    ("round", "logical time", lambda p: f"{p['round']:.0f} s"),
    ("herd", "most common answer (share of all)",
     lambda p: f"{chr(ord('A') + int(p['herd_answer']))} ({p['herd']:.0%})"),
    ("accuracy", "accuracy of the honest respondents", lambda p: f"{p['accuracy']:.0%}"),
    ("switches", "switches to the shown majority", lambda p: f"{p['switches']:.0f}"),
    ("loop_messages", "messages sent by the looping agents",
     lambda p: f"{p['loop_messages']:,.0f}"),
    ("tokens", "tokens the looping agents read", lambda p: f"{p['tokens']:,.0f}"),
    ("quarantined", "quarantined by membrane", lambda p: f"{p['quarantined']:,.0f}"),
    ("held", "held by membrane right now", lambda p: f"{p['held']:,.0f}"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("A short showcase on an embedded broker: a herd forming and loops "
                          "starting, with and without membrane's damping, side by side.")
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="wall time the rounds are spread over (default 30)")
    parser.add_argument("--out", type=Path, default=Path("membrane-demo"),
                        help="where the figure and CSV go (default ./membrane-demo)")
    parser.add_argument("--seed", type=int, default=1)


def render(latest: Mapping[str, Mapping[str, float]]) -> Table:
    table = Table(title="membrane demo: the same swarm, twice")
    table.add_column("signal")
    for label in RUNS:
        table.add_column(label, justify="right")
    for _key, name, shown in ROWS:
        table.add_row(name, *(shown(latest[label]) if latest[label] else "..."
                              for label in RUNS))
    return table


def write_series(series: Mapping[str, list[dict[str, float]]], path: Path) -> Path:
    keys = list(next(iter(series.values()))[0]) if series else []
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["run", *keys])
        for label, points in series.items():
            for point in points:
                writer.writerow([label, *(f"{point.get(k, 0.0):g}" for k in keys)])
    return path


async def _play(args: argparse.Namespace, console: Console
                ) -> dict[str, list[dict[str, float]]]:
    series: dict[str, list[dict[str, float]]] = {label: [] for label in RUNS}
    latest: dict[str, dict[str, float]] = {label: {} for label in RUNS}
    pace = max(args.seconds, 0.0) / ROUNDS
    with tempfile.TemporaryDirectory(prefix="membrane-demo-") as workdir:
        async with EmbeddedBroker() as broker:
            with Live(render(latest), console=console, auto_refresh=False) as live:

                def watcher(label: str) -> Callable[[int, Mapping[str, float]], None]:
                    def on_round(round_no: int, point: Mapping[str, float]) -> None:
                        series[label].append(dict(point))
                        latest[label] = dict(point)
                        live.update(render(latest), refresh=True)
                    return on_round

                await asyncio.gather(*(
                    run_kafka(ShowcaseSwarm(damped, args.seed), Path(workdir) / f"run{i}",
                              bootstrap=broker.bootstrap, namespace=f"demo{i}",
                              on_round=watcher(label), pace=pace)
                    for i, (label, damped) in enumerate(RUNS.items())))
    return series


def run(args: argparse.Namespace) -> int:
    console = Console()
    console.print("[bold]membrane demo[/bold]: 20 agents answer a question (4 confederates "
                  "speak first), two agents thank each other, three delegate in a circle.")
    series = asyncio.run(_play(args, console))
    console.print()
    args.out.mkdir(parents=True, exist_ok=True)
    figure = figures.demo(series, args.out / "demo.png")
    numbers = write_series(series, args.out / "demo.csv")
    free, damped = (series[label][-1] for label in RUNS)
    console.print(
        f"Without damping the herd ends at {free['accuracy']:.0%} accuracy and the loops sent "
        f"{free['loop_messages']:,.0f} messages; with membrane, {damped['accuracy']:.0%} and "
        f"{damped['loop_messages']:,.0f} ({damped['quarantined']:,.0f} quarantined).")
    console.print(f"Figures written to {figure} and {numbers}")
    return 0
