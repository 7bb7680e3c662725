"""Tables and CSV files from a set of runs.

``aggregate`` groups runs by condition and gives, per measured quantity,
the mean and the sample standard deviation over the repeats. The markdown
table shows them as ``mean ± sd``; the CSV files keep every run (one row
per run) and the per-round series averaged over repeats.
"""

from __future__ import annotations

import csv
import statistics
from collections.abc import Sequence
from pathlib import Path

from bus.sim.runner import Condition, RunResult

SERIES_POINTS = 200  # per condition in the series CSV: enough for a figure, small to commit


class Aggregate:
    """The repeats of one condition."""

    __slots__ = ("condition", "runs")

    def __init__(self, condition: Condition, runs: list[RunResult]) -> None:
        self.condition = condition
        self.runs = runs

    def values(self, metric: str) -> list[float]:
        return [r.record.summary[metric] for r in self.runs if metric in r.record.summary]

    def mean(self, metric: str) -> float:
        values = self.values(metric)
        return statistics.fmean(values) if values else float("nan")

    def sd(self, metric: str) -> float:
        values = self.values(metric)
        return statistics.stdev(values) if len(values) > 1 else 0.0

    def series(self, metric: str) -> list[tuple[float, float]]:
        """(round, mean over repeats) for a per-round measurement."""
        rows = [r.record.series for r in self.runs]
        length = min(len(s) for s in rows)
        out = []
        for i in range(length):
            points = [s[i][metric] for s in rows if metric in s[i]]
            if points:
                out.append((rows[0][i]["round"], statistics.fmean(points)))
        return out


def aggregate(results: Sequence[RunResult]) -> list[Aggregate]:
    """Runs grouped by condition, in the order conditions first appear."""
    groups: dict[tuple[str, ...], Aggregate] = {}
    for result in results:
        key = result.condition.key
        if key not in groups:
            groups[key] = Aggregate(result.condition, [])
        groups[key].runs.append(result)
    return list(groups.values())


def _number(value: float, digits: int) -> str:
    """Counts without decimals, shares and errors with ``digits``."""
    if value != value:  # NaN: not measured in this condition
        return "-"
    if value == 0:
        return "0"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.{digits}f}"


def markdown_table(groups: Sequence[Aggregate], metrics: Sequence[str], digits: int = 3) -> str:
    """One row per condition: its labels, then ``mean ± sd`` of each metric."""
    if not groups:
        return "(no runs)\n"
    labels = list(groups[0].condition.labels)
    header = [*labels, *metrics, "runs"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for group in groups:
        cells = list(group.condition.labels.values())
        for metric in metrics:
            mean, sd = group.mean(metric), group.sd(metric)
            cell = _number(mean, digits)
            if len(group.runs) > 1 and mean == mean:
                cell += f" ± {_number(sd, digits)}"
            cells.append(cell)
        cells.append(str(len(group.runs)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_runs_csv(results: Sequence[RunResult], path: Path) -> Path:
    """One row per run: condition labels, seed, every summary value, wall time."""
    metrics: list[str] = []
    for result in results:
        metrics.extend(m for m in result.record.summary if m not in metrics)
    labels = list(results[0].condition.labels) if results else []
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*labels, "seed", *metrics, "wall_seconds"])
        for result in results:
            summary = result.record.summary
            writer.writerow([*result.condition.labels.values(), result.seed,
                             *(f"{summary[m]:.6g}" if m in summary else "" for m in metrics),
                             f"{result.record.wall_seconds:.3f}"])
    return path


def write_series_csv(groups: Sequence[Aggregate], metric: str, path: Path) -> Path:
    """``metric`` per round, averaged over repeats, thinned to ``SERIES_POINTS`` per condition."""
    labels = list(groups[0].condition.labels) if groups else []
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*labels, "round", metric])
        for group in groups:
            series = group.series(metric)
            stride = max(1, len(series) // SERIES_POINTS)
            for round_no, value in series[::stride]:
                writer.writerow([*group.condition.labels.values(), int(round_no),
                                 f"{value:.6g}"])
    return path
