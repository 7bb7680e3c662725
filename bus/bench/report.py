"""Writes benchmark results as a markdown file, a JSON file and a PNG plot."""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

Table = Sequence[Mapping[str, object]]
Columns = Sequence[tuple[str, str]]  # (key, heading)


def machine() -> str:
    """CPU model, core count, memory, Python and OS: the line every result carries."""
    cpu = "unknown CPU"
    memory = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
            memory = f", {kib / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{os.cpu_count()} cores, {cpu}{memory}, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def load_average() -> str:
    """The 1-minute load average (runnable processes), or "unknown"."""
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0]
    except (OSError, IndexError):
        return "unknown"


def cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def markdown(title: str, rows: Table, columns: Columns, note: str = "") -> str:
    head = "| " + " | ".join(heading for _, heading in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(cell(row.get(key, "")) for key, _ in columns) + " |"
            for row in rows]
    parts = [f"### {title}", ""]
    if note:
        parts += [note, ""]
    return "\n".join([*parts, head, rule, *body, ""])


class Section:
    __slots__ = ("columns", "note", "rows", "title")

    def __init__(self, title: str, rows: Table, columns: Columns, note: str = "") -> None:
        self.title = title
        self.rows = rows
        self.columns = columns
        self.note = note


def write(out: Path, heading: str, sections: Sequence[Section], data: Mapping[str, object]
          ) -> Path:
    """``results.md`` (the tables) and ``results.json`` (``data``) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    parts = [heading, "", f"Machine: {machine()}", ""]
    parts += [markdown(s.title, s.rows, s.columns, s.note) for s in sections]
    md = out / "results.md"
    md.write_text("\n".join(parts))
    (out / "results.json").write_text(json.dumps(
        {"machine": machine(), **data}, indent=2, default=_jsonable) + "\n")
    return md


def _jsonable(value: object) -> object:
    return str(value)


class Panel:
    """One plot: bars (labels on x) or a line over a log x axis."""

    __slots__ = ("kind", "title", "xlabel", "xs", "ylabel", "ys")

    def __init__(self, kind: Literal["bar", "line"], title: str, xlabel: str, ylabel: str,
                 xs: Sequence[object], ys: Sequence[float]) -> None:
        self.kind = kind
        self.title = title
        self.xlabel = xlabel
        self.ylabel = ylabel
        self.xs = list(xs)
        self.ys = [0.0 if math.isnan(y) else y for y in ys]


def plot(out: Path, panels: Sequence[Panel], title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(3, max(len(panels), 1))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False)
    for ax, panel in zip(axes.flat, panels, strict=False):
        if panel.kind == "bar":
            labels = [str(x) for x in panel.xs]
            ax.bar(range(len(labels)), panel.ys, color="#4c72b0")
            ax.set_xticks(range(len(labels)), labels, rotation=25, ha="right", fontsize=8)
        else:
            ax.plot([float(x) for x in panel.xs], panel.ys, marker="o")  # type: ignore[arg-type]
            ax.set_xscale("log")
        ax.set_title(panel.title, fontsize=10)
        ax.set_xlabel(panel.xlabel)
        ax.set_ylabel(panel.ylabel)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    path = out / "results.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
