"""Writes benchmark results as a markdown table, a JSON file and a PNG plot."""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path

Table = Sequence[Mapping[str, object]]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()}"


def _cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}"
    return str(value)


def markdown(title: str, rows: Table, columns: Sequence[tuple[str, str]]) -> str:
    """``columns`` is (key, heading) pairs, in order."""
    head = "| " + " | ".join(heading for _, heading in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(_cell(row.get(key, "")) for key, _ in columns) + " |" for row in rows]
    return "\n".join([f"### {title}", "", head, rule, *body, ""])


def write(out: Path, sections: Mapping[str, tuple[Table, Sequence[tuple[str, str]]]]) -> Path:
    """Write ``results.md`` and ``results.json`` into ``out``; returns the markdown path."""
    out.mkdir(parents=True, exist_ok=True)
    parts = [f"Machine: {machine()}", ""]
    for title, (rows, columns) in sections.items():
        parts.append(markdown(title, rows, columns))
    md = out / "results.md"
    md.write_text("\n".join(parts))
    (out / "results.json").write_text(
        json.dumps({title: list(map(dict, rows)) for title, (rows, _) in sections.items()},
                   indent=2, default=str)
    )
    return md


Curve = tuple[str, str, Sequence[float], Sequence[float]]


def plot(out: Path, curves: Mapping[str, Curve]) -> Path:
    """One panel per curve: title → (x label, y label, xs, ys). Log x axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(len(curves), 1)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.4), squeeze=False)
    for ax, (title, (xlabel, ylabel, xs, ys)) in zip(axes[0], curves.items(), strict=False):
        ax.plot(list(xs), list(ys), marker="o")
        ax.set_xscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path = out / "results.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
