"""The figures: one PNG per scenario, drawn with matplotlib's Agg backend.

Small on purpose (about 1100 by 450 pixels) so they can live in the
repository next to the tables that hold their numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bus.sim.report import Aggregate

SIZE = (11.0, 4.5)
DPI = 100


def _save(fig: Figure, path: Path, title: str) -> Path:
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _by(groups: Sequence[Aggregate], label: str) -> dict[str, list[Aggregate]]:
    out: dict[str, list[Aggregate]] = {}
    for group in groups:
        out.setdefault(group.condition.labels[label], []).append(group)
    return out


def collective(groups: Sequence[Aggregate], path: Path, title: str) -> Path:
    """Final error against noise per topology; error over time at a middle noise level."""
    fig, (left, right) = plt.subplots(1, 2, figsize=SIZE)
    noises = sorted({float(g.condition.labels["noise"]) for g in groups})
    shown_noise = noises[len(noises) // 2]
    for topology, members in _by(groups, "topology").items():
        members = sorted(members, key=lambda g: float(g.condition.labels["noise"]))
        xs = [float(g.condition.labels["noise"]) for g in members]
        left.errorbar(xs, [g.mean("error") for g in members],
                      yerr=[g.sd("error") for g in members], marker="o", capsize=3,
                      label=topology)
        for group in members:
            if float(group.condition.labels["noise"]) == shown_noise:
                series = group.series("error")
                right.plot([r for r, _ in series], [v for _, v in series], label=topology)
    left.set_xlabel("noise ε (probability evidence is wrong)")
    left.set_ylabel("mean error at the end (mean ± sd over repeats)")
    left.grid(alpha=0.3)
    left.legend()
    right.set_xlabel("round")
    right.set_ylabel(f"mean error (ε = {shown_noise:g})")
    right.set_ylim(bottom=0)
    right.grid(alpha=0.3)
    right.legend()
    return _save(fig, path, title)


def _bars(ax: Axes, groups: Sequence[Aggregate], metrics: Sequence[str],
          names: Sequence[str]) -> None:
    width = 0.8 / len(metrics)
    xs = range(len(groups))
    for i, (metric, name) in enumerate(zip(metrics, names, strict=True)):
        ax.bar([x + (i - (len(metrics) - 1) / 2) * width for x in xs],
               [g.mean(metric) for g in groups], width,
               yerr=[g.sd(metric) for g in groups], capsize=2, label=name)
    ax.set_xticks(list(xs))
    ax.set_xticklabels(["\n".join(g.condition.labels.values()) for g in groups], fontsize=8)


def pressure(groups: Sequence[Aggregate], path: Path, title: str) -> Path:
    """Accuracy, conformity and vulnerability per topology and damper."""
    fig, ax = plt.subplots(figsize=SIZE)
    _bars(ax, groups, ("accuracy", "conformity_rate", "vulnerability_rate"),
          ("final accuracy", "conformity rate", "vulnerability rate"))
    private = [g.mean("private_accuracy") for g in groups]
    ax.axhline(sum(private) / len(private), color="grey", linestyle="--",
               label="private accuracy (before exposure)")
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of honest agents (mean ± sd over repeats)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    return _save(fig, path, title)


def loops(groups: Sequence[Aggregate], path: Path, title: str) -> Path:
    """Delivered messages and tokens per loop pattern, one bar per damping kit, and the
    share of calls answered in the retry storm."""
    fig, axes = plt.subplots(1, 3, figsize=(SIZE[0] * 1.2, SIZE[1]),
                             gridspec_kw={"width_ratios": [3, 3, 2]})
    patterns = _by(groups, "pattern")
    kits = list(dict.fromkeys(g.condition.labels["damping"] for g in groups))
    colours = {kit: f"C{i}" for i, kit in enumerate(kits)}
    width = 0.8 / len(kits)
    for ax, metric, label in ((axes[0], "delivered", "messages delivered"),
                              (axes[1], "tokens", "tokens read by the agents")):
        for i, kit in enumerate(kits):
            values = []
            for members in patterns.values():
                match = [g for g in members if g.condition.labels["damping"] == kit]
                values.append(match[0].mean(metric) if match else 0.0)
            ax.bar([p + (i - (len(kits) - 1) / 2) * width for p in range(len(patterns))],
                   values, width, color=colours[kit], label=kit)
        ax.set_yscale("symlog", linthresh=1)
        ax.set_xticks(range(len(patterns)))
        ax.set_xticklabels(list(patterns))
        ax.set_ylabel(f"{label} (log scale)")
        ax.grid(axis="y", alpha=0.3)
    storm = [g for g in patterns.get("retry", []) if g.values("answered")]
    axes[2].bar(range(len(storm)), [g.mean("answered") for g in storm],
                color=[colours[g.condition.labels["damping"]] for g in storm])
    axes[2].set_xticks(range(len(storm)))
    axes[2].set_xticklabels([g.condition.labels["damping"] for g in storm], rotation=30)
    axes[2].set_ylim(0, 1)
    axes[2].set_ylabel("retry storm: calls answered in time")
    axes[2].grid(axis="y", alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, title="damping", loc="lower center", ncol=len(kits),
               fontsize=8)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def demo(series: dict[str, list[dict[str, float]]], path: Path) -> Path:
    """The demo's two runs over time: the herd's accuracy and the loops' traffic."""
    fig, (left, right) = plt.subplots(1, 2, figsize=SIZE)
    for label, points in series.items():
        rounds = [p["round"] for p in points]
        left.plot(rounds, [p["accuracy"] for p in points], label=label)
        right.plot(rounds, [p["loop_messages"] for p in points], label=label)
    left.set_xlabel("logical time (s)")
    left.set_ylabel("accuracy of the honest respondents")
    left.set_ylim(0, 1)
    right.set_xlabel("logical time (s)")
    right.set_ylabel("messages sent by the looping agents (cumulative)")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path, "membrane demo: a herd and two loops, without and with damping")
