"""``membrane bench``: every measurement, in order, and the report.

First everything that needs the broker (``bus.bench.side_by_side``), with
the embedded broker unless a bootstrap address is given; then, with the
broker stopped, the in-process scale curves (``bus.bench.decision_cost``)
and the policy compile figures (``bus.bench_policy.measure``). Results go
to ``results.md``, ``results.json`` and ``results.png`` in the output folder.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bus.bench import decision_cost, report
from bus.bench.plan import Plan
from bus.bench.side_by_side import PERCENTILES, Row, Runner, SideBySide
from bus.bench_policy import measure as measure_policy
from bus.embedded import EmbeddedBroker

Progress = Callable[[str], None]

TARGET_MSGS_PER_S = 50_000
TARGET_VS_NOOP = 0.7
TARGET_ADDED_P99_MS = 10.0
TARGET_FLATNESS = 1.2
TARGET_TWO_PROCESSES = 1.6


async def _against_broker(plan: Plan, bootstrap: str | None, workdir: Path,
                          progress: Progress) -> SideBySide:
    if bootstrap is not None:
        return await Runner(bootstrap, plan, workdir, progress).run()
    async with EmbeddedBroker() as broker:
        progress(f"embedded broker at {broker.bootstrap}")
        return await Runner(broker.bootstrap, plan, workdir, progress).run()


def _triple(values: dict[str, float]) -> str:
    return " / ".join(report.cell(values.get(p, math.nan)) for p in PERCENTILES)


def _per_core(row: Row) -> float:
    """Messages per second one process would carry with a core to itself: the
    figure that does not depend on what else the machine runs."""
    cpu = row.cpu_s_per_million
    return 1e6 / cpu if cpu and not math.isnan(cpu) else math.nan


def _display(rows: Sequence[Row]) -> list[dict[str, object]]:
    noop = next((r.msgs_per_s for r in rows if r.config.startswith("no-op")), math.nan)
    return [{
        "config": row.config,
        "processes": row.processes,
        "msgs_per_s": row.msgs_per_s,
        "vs_noop": row.msgs_per_s / noop if noop else math.nan,
        "cpu": row.cpu_s_per_million,
        "per_core": _per_core(row),
        "rss": row.peak_rss_mib,
        "fixed": _triple(row.fixed),
        "added_fixed": _triple(row.added_fixed) if row.added_fixed else "(baseline)",
        "near_rate": row.near_rate,
        "added_near": _triple(row.added_near) if row.added_near else "n/a",
        "gateway": row.gateway_ms_per_request,
        "transit": _triple(row.transit) if row.transit else "n/a",
        "produce": _triple(row.produce) if row.produce else "n/a",
        "lost": row.lost,
        "duplicates": row.duplicates,
    } for row in rows]


SIDE_BY_SIDE_COLUMNS = (
    ("config", "configuration"), ("processes", "processes"), ("msgs_per_s", "msg/s"),
    ("vs_noop", "x no-op"), ("cpu", "CPU s / 1M msgs"),
    ("per_core", "msg/s per core (from CPU / msg)"), ("rss", "peak RSS MiB"),
    ("fixed", "p50 / p99 / p99.9 ms at fixed load"),
    ("added_fixed", "added over direct"),
    ("near_rate", "near-saturation load msg/s"), ("added_near", "added near saturation"),
    ("gateway", "gateway ms per produce"),
    ("transit", "relay read → acknowledged p50 / p99 / p99.9 ms at fixed load"),
    ("produce", "of which producer → broker ack, per batch"),
    ("lost", "lost"), ("duplicates", "duplicates"),
)


def _targets(side: SideBySide, agents_curve: list[dict[str, Any]],
             edges_curve: list[dict[str, Any]], active_curve: list[dict[str, Any]]
             ) -> list[dict[str, object]]:
    by_config = {row.config: row for row in side.rows}
    full = by_config["membrane, full chain"]
    noop = by_config["no-op batch relay"]
    ratio = side.processes[-1]["vs_one"] if side.processes else math.nan
    inferred = side.processes[-1]["vs_one_a_core_each"] if side.processes else math.nan
    edge_bytes = float(active_curve[-1]["state_bytes_per_active_edge"]) if active_curve \
        else math.nan
    per_core, noop_per_core = _per_core(full), _per_core(noop)
    checks: list[tuple[str, float, bool]] = [
        (f"full chain ≥ {TARGET_MSGS_PER_S:,} msg/s (one process)", full.msgs_per_s,
         full.msgs_per_s >= TARGET_MSGS_PER_S),
        (f"full chain ≥ {TARGET_MSGS_PER_S:,} msg/s with a core to itself (from CPU / msg)",
         per_core, per_core >= TARGET_MSGS_PER_S),
        (f"full chain ≥ {TARGET_VS_NOOP}x the no-op relay", full.msgs_per_s / noop.msgs_per_s,
         full.msgs_per_s / noop.msgs_per_s >= TARGET_VS_NOOP),
        (f"full chain ≥ {TARGET_VS_NOOP}x the no-op relay, per core (from CPU / msg)",
         per_core / noop_per_core, per_core / noop_per_core >= TARGET_VS_NOOP),
        (f"full chain added p99 ≤ {TARGET_ADDED_P99_MS:g} ms at the fixed load (ms)",
         full.added_fixed.get("p99_ms", math.nan),
         full.added_fixed.get("p99_ms", math.inf) <= TARGET_ADDED_P99_MS),
        ("full chain p99 minus the no-op relay's at the fixed load (ms): what membrane "
         "adds beyond carrying a message through a relay on this broker",
         full.fixed.get("p99_ms", math.nan) - noop.fixed.get("p99_ms", math.nan),
         full.fixed.get("p99_ms", math.inf) - noop.fixed.get("p99_ms", 0.0)
         <= TARGET_ADDED_P99_MS),
        ("full chain: the relay's own read → acknowledged p99 ≤ "
         f"{TARGET_ADDED_P99_MS:g} ms at the fixed load (ms): membrane's share, without "
         "the broker's hops", full.transit.get("p99_ms", math.nan),
         full.transit.get("p99_ms", math.inf) <= TARGET_ADDED_P99_MS),
        ("decision + sensor cost flat within 20 % over the agents curve (max/min)",
         decision_cost.flatness(agents_curve),
         decision_cost.flatness(agents_curve) <= TARGET_FLATNESS),
        ("decision + sensor cost flat within 20 % over the edges curve (max/min)",
         decision_cost.flatness(edges_curve),
         decision_cost.flatness(edges_curve) <= TARGET_FLATNESS),
        ("memory: state bytes per active edge (most active edges measured)", edge_bytes,
         True),
        (f"two relay processes ≥ {TARGET_TWO_PROCESSES}x one", float(ratio),
         float(ratio) >= TARGET_TWO_PROCESSES),
        (f"two relay processes ≥ {TARGET_TWO_PROCESSES}x one, with a core each "
         "(inferred from CPU per message)", float(inferred),
         float(inferred) >= TARGET_TWO_PROCESSES),
    ]
    return [{"target": name, "measured": value, "met": "yes" if met else "no"}
            for name, value, met in checks]


def run(plan: Plan, out: Path, bootstrap: str | None, progress: Progress) -> Path:
    """Run every measurement of ``plan``; returns the markdown file written."""
    started = time.monotonic()
    load_at_start = report.load_average()
    with tempfile.TemporaryDirectory(prefix="membrane-bench-") as tmp:
        side = asyncio.run(_against_broker(plan, bootstrap, Path(tmp), progress))
    progress("decision cost in process: agents curve")
    agents_curve = decision_cost.curve(plan.agent_points, plan.decision_messages)
    progress("decision cost in process: edges curve")
    edges_curve = decision_cost.curve(plan.edge_points, plan.decision_messages)
    progress("decision cost in process: active edges curve")
    active_curve = decision_cost.curve(plan.active_points, plan.decision_messages)
    for name, rows in (("agents", agents_curve), ("edges", edges_curve),
                       ("active edges", active_curve)):
        for row in rows:
            row["curve"] = name
    progress("policy compile")
    compiled = [dataclasses.asdict(measure_policy(a, e, plan.compile_decisions))
                for a, e in plan.compile_points]
    sections = [
        report.Section("Targets", _targets(side, agents_curve, edges_curve, active_curve),
                       (("target", "target"), ("measured", "measured"), ("met", "met"))),
        report.Section(
            "Side by side (250-byte messages)", _display(side.rows), SIDE_BY_SIDE_COLUMNS,
            f"Fixed load: {plan.fixed_rate:,.0f} msg/s for {plan.fixed_seconds:g} s. "
            f"Near saturation: {plan.near_fraction:.0%} of the configuration's own msg/s. "
            "Latency is end to end, sender clock to collector clock; 'added' subtracts "
            "direct's percentile at the same load."),
        report.Section("Message size (membrane, full chain)", side.sizes, (
            ("message_bytes", "bytes"), ("msgs_per_s", "msg/s"), ("mib_per_s", "MiB/s"),
            ("cpu_s_per_million", "CPU s / 1M msgs"))),
        report.Section("Relay processes in one consumer group (full chain)", side.processes, (
            ("processes", "processes"), ("msgs_per_s", "msg/s"), ("vs_one", "x one"),
            ("cpu_s_per_million", "CPU s / 1M msgs (all processes)"),
            ("vs_one_a_core_each", "x one with a core each (from CPU / msg)"),
            ("cpu_shares", "CPU share of each process"))),
        report.Section("Decision cost in process (full chain + sensors)",
                       agents_curve + edges_curve + active_curve, (
                           ("curve", "curve"), ("agents", "agents"), ("edges", "edges"),
                           ("active_edges", "active edges"),
                           ("us_per_message", "CPU µs / msg"), ("policy_mib", "policy MiB"),
                           ("policy_bytes_per_edge", "policy B / edge"),
                           ("state_bytes_per_active_edge", "state B / active edge"),
                           ("window_bytes_per_message", "window B / msg"))),
        report.Section("Policy compile (bus.bench_policy)", compiled, (
            ("agents", "agents"), ("edges", "edges"), ("compile_seconds", "compile s"),
            ("rss_added_mib", "RSS MiB"), ("decision_ns", "decision ns"),
            ("many_rules", "rules (many-rules variant)"),
            ("many_rules_decision_ns", "decision ns (many rules)"))),
    ]
    heading = (f"## membrane bench{' --quick' if plan.warmup < 1_000 else ''} "
               f"({time.monotonic() - started:,.0f} s)\n\n"
               f"Load average at start / end: {load_at_start} / {report.load_average()} "
               "(runnable processes on the machine: above the core count, other work "
               "competes for the cores and lowers throughput and raises latency)")
    data = {"plan": dataclasses.asdict(plan), "side_by_side": [r.as_dict() for r in side.rows],
            "message_size": side.sizes, "processes": side.processes,
            "decision_cost": {"agents": agents_curve, "edges": edges_curve,
                              "active_edges": active_curve},
            "policy_compile": compiled}
    md = report.write(out, heading, sections, data)
    report.plot(out, [
        report.Panel("bar", "Throughput, 250 B", "", "msg/s",
                     [r.config.replace("membrane, ", "") for r in side.rows],
                     [r.msgs_per_s for r in side.rows]),
        report.Panel("line", "Message size (full chain)", "bytes", "msg/s",
                     [s["message_bytes"] for s in side.sizes],
                     [float(s["msgs_per_s"]) for s in side.sizes]),
        report.Panel("bar", "Relay processes (full chain)", "processes", "msg/s",
                     [p["processes"] for p in side.processes],
                     [float(p["msgs_per_s"]) for p in side.processes]),
        report.Panel("line", "Decision cost vs agents", "agents", "CPU µs / msg",
                     [r["agents"] for r in agents_curve],
                     [float(r["us_per_message"]) for r in agents_curve]),
        report.Panel("line", "Decision cost vs edges", "edges", "CPU µs / msg",
                     [r["edges"] for r in edges_curve],
                     [float(r["us_per_message"]) for r in edges_curve]),
        report.Panel("line", "Decision cost vs active edges", "active edges", "CPU µs / msg",
                     [r["active_edges"] for r in active_curve],
                     [float(r["us_per_message"]) for r in active_curve]),
    ], f"membrane bench — {report.machine()}")
    return md
