"""The configurations side by side on one broker, with the same messages.

For each configuration (``bus.bench.configs``): a session with its children
(``bus.bench.session``), a warm-up, the fixed load (latency), a saturation
burst (throughput, CPU per message, peak memory) and, in a full run, the
fixed load again at a share of the configuration's own saturation rate.
Added latency is the configuration's percentile minus direct's percentile
at the same offered load, so the broker's and the collector's own latency
cancel out. Then the message-size curve (through the full-chain relay
already running) and one against two relay processes in a consumer group.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Callable
from pathlib import Path

from bus.bench.configs import ROUTES, TITLES, Kind, launch
from bus.bench.plan import Plan
from bus.bench.scrape import Histogram, read_histogram, read_histograms
from bus.bench.session import Session
from bus.bench.workload import Workload

Progress = Callable[[str], None]
QUANTILES = {"p50_ms": 0.5, "p99_ms": 0.99, "p999_ms": 0.999}
PERCENTILES = tuple(QUANTILES)
NAN = float("nan")
GATEWAY_LATENCY = "membrane_gateway_added_latency_seconds"
TRANSIT = "membrane_relay_transit_seconds"
PRODUCE = "membrane_relay_produce_seconds"


class Row:
    """One configuration's figures; NaN where not measured."""

    __slots__ = (
        "added_fixed",
        "added_near",
        "config",
        "cpu_s_per_million",
        "duplicates",
        "fixed",
        "gateway_ms_per_request",
        "lost",
        "msgs_per_s",
        "near",
        "near_rate",
        "peak_rss_mib",
        "processes",
        "produce",
        "transit",
    )

    def __init__(self, config: str, processes: int) -> None:
        self.config = config
        self.processes = processes
        self.msgs_per_s = NAN
        self.cpu_s_per_million = NAN
        self.peak_rss_mib = NAN
        self.fixed: dict[str, float] = {}
        self.added_fixed: dict[str, float] = {}
        self.near_rate = NAN
        self.near: dict[str, float] = {}
        self.added_near: dict[str, float] = {}
        self.gateway_ms_per_request = NAN
        # membrane's own share at the fixed load: the relay's read-to-acknowledged time.
        self.transit: dict[str, float] = {}
        self.produce: dict[str, float] = {}  # of that, the producer's wait for the broker
        self.lost = 0
        self.duplicates = 0

    def as_dict(self) -> dict[str, object]:
        flat: dict[str, object] = {
            "config": self.config,
            "processes": self.processes,
            "msgs_per_s": self.msgs_per_s,
            "cpu_s_per_million": self.cpu_s_per_million,
            "peak_rss_mib": self.peak_rss_mib,
            "near_rate": self.near_rate,
            "gateway_ms_per_request": self.gateway_ms_per_request,
            "lost": self.lost,
            "duplicates": self.duplicates,
        }
        for prefix, values in (("fixed", self.fixed), ("added_fixed", self.added_fixed),
                               ("near", self.near), ("added_near", self.added_near),
                               ("transit", self.transit), ("produce", self.produce)):
            for p in PERCENTILES:
                flat[f"{prefix}_{p}"] = values.get(p, NAN)
        return flat


class SideBySide:
    """Everything measured against the broker."""

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.sizes: list[dict[str, float | int]] = []
        self.processes: list[dict[str, float | int | str]] = []


def _added(config: dict[str, float], direct: dict[str, float]) -> dict[str, float]:
    return {p: config.get(p, NAN) - direct.get(p, NAN) for p in PERCENTILES}


class Runner:
    def __init__(self, bootstrap: str, plan: Plan, workdir: Path, progress: Progress) -> None:
        self.bootstrap = bootstrap
        self.plan = plan
        self.workdir = workdir
        self.progress = progress
        self.sizes: list[dict[str, float | int]] = []

    def _workload(self, kind: str, size: int = 250) -> Workload:
        return Workload(self.plan.agents, size, prefix=f"{kind[:2]}{uuid.uuid4().hex[:6]}n")

    def _session(self, kind: Kind, processes: int = 1) -> Session:
        workload = self._workload(kind)
        spawned = launch(kind, self.bootstrap, workload, self.workdir, processes)
        return Session(self.bootstrap, workload, ROUTES[kind], spawned.specs,
                       workdir=self.workdir, sender_bootstrap=spawned.sender_bootstrap,
                       timeout=self.plan.timeout)

    async def config(self, kind: Kind, *, with_sizes: bool = False) -> Row:
        plan = self.plan
        row = Row(TITLES[kind], 0 if kind == "direct" else 1)
        self.progress(f"{TITLES[kind]}: starting")
        async with self._session(kind) as session:
            await session.warm_up(plan.warmup)
            before = await asyncio.to_thread(_relay_timings, session)
            _, row.fixed = await session.fixed_load(plan.fixed_rate, plan.fixed_seconds)
            after = await asyncio.to_thread(_relay_timings, session)
            if before and after:
                row.transit, row.produce = (
                    _percentiles_ms(later.minus(earlier))
                    for earlier, later in zip(before, after, strict=True))
            saturation = await session.saturation(plan.saturation)
            row.msgs_per_s = saturation.msgs_per_s
            if session.children:
                row.cpu_s_per_million = saturation.cpu_s_per_million
            if plan.near_fraction and session.children:
                row.near_rate, row.near = await session.fixed_load(
                    plan.near_fraction * row.msgs_per_s, plan.fixed_seconds)
            if with_sizes:
                await self._sizes(session)
            if kind == "gateway":
                row.gateway_ms_per_request = await asyncio.to_thread(
                    _gateway_ms_per_produce, session)
            if session.children:
                row.peak_rss_mib = session.peak_rss_bytes() / 2**20
            row.lost, row.duplicates = session.lost, session.duplicates
        self.progress(f"{TITLES[kind]}: {row.msgs_per_s:,.0f} msg/s, p99 at "
                      f"{plan.fixed_rate:,.0f} msg/s {row.fixed.get('p99_ms', NAN):.1f} ms")
        return row

    async def _sizes(self, session: Session) -> None:
        for size in self.plan.sizes:
            count = self.plan.count_for_size(size)
            result = await session.saturation(count, session.workload.resized(size))
            self.sizes.append({
                "message_bytes": size,
                "msgs_per_s": result.msgs_per_s,
                "mib_per_s": result.msgs_per_s * size / 2**20,
                "cpu_s_per_million": result.cpu_s_per_million,
            })
            self.progress(f"  {size:,} B: {result.msgs_per_s:,.0f} msg/s")

    async def processes(self, count: int) -> dict[str, float | int | str]:
        self.progress(f"membrane, full chain, {count} processes: starting")
        async with self._session("full", count) as session:
            await session.warm_up(self.plan.warmup)
            result = await session.saturation(self.plan.processes_messages)
        self.progress(f"  {count} processes: {result.msgs_per_s:,.0f} msg/s")
        return {"processes": count, "msgs_per_s": result.msgs_per_s,
                "cpu_s_per_million": result.cpu_s_per_million,
                "cpu_shares": " / ".join(f"{c / result.cpu_seconds:.0%}"
                                         for c in result.cpu_by_child)}

    async def direct_latency(self, rate: float) -> dict[str, float]:
        """Direct's percentiles at ``rate``, after the same phases as the
        configurations' near-saturation load (the baseline for its added latency:
        the embedded broker slows down as its partitions fill)."""
        plan = self.plan
        async with self._session("direct") as session:
            await session.warm_up(plan.warmup)
            await session.fixed_load(plan.fixed_rate, plan.fixed_seconds)
            await session.saturation(plan.saturation)
            _, latency = await session.fixed_load(rate, plan.fixed_seconds)
        return latency

    async def run(self) -> SideBySide:
        result = SideBySide()
        kinds: tuple[Kind, ...] = ("direct", "noop", "topology", "full", "gateway")
        by_kind = {kind: await self.config(kind, with_sizes=kind == "full") for kind in kinds}
        rows = list(by_kind.values())
        direct = by_kind["direct"]
        for row in rows[1:]:
            row.added_fixed = _added(row.fixed, direct.fixed)
        for row in rows:
            if not math.isnan(row.near_rate):
                self.progress(f"direct at {row.near_rate:,.0f} msg/s (baseline for {row.config})")
                row.added_near = _added(row.near, await self.direct_latency(row.near_rate))
        full = by_kind["full"]
        one: dict[str, float | int | str] = {"processes": 1, "msgs_per_s": full.msgs_per_s,
               "cpu_s_per_million": full.cpu_s_per_million, "cpu_shares": "100%"}
        two = await self.processes(2)
        for entry in (one, two):
            entry["vs_one"] = float(entry["msgs_per_s"]) / full.msgs_per_s
            # What N processes would deliver with a core each: N times one, scaled by
            # how much more CPU a message takes when the work is split.
            entry["vs_one_a_core_each"] = (float(entry["processes"]) * full.cpu_s_per_million
                                           / float(entry["cpu_s_per_million"]))
        result.processes = [one, two]
        result.rows = rows
        result.sizes = self.sizes
        return result


def _gateway_ms_per_produce(session: Session) -> float:
    """Mean time the gateway's own code spent per produce request, from its /metrics."""
    port = session.children[0].spec.metrics_port
    if port is None:
        return NAN
    return read_histogram(port, GATEWAY_LATENCY, {"api": "produce"}).mean() * 1e3


def _relay_timings(session: Session) -> tuple[Histogram, ...]:
    """The relay's transit and produce histograms now (one relay process serving
    /metrics), or nothing."""
    port = session.children[0].spec.metrics_port if len(session.children) == 1 else None
    if port is None:
        return ()
    found = read_histograms(port, (TRANSIT, PRODUCE), {"transport": "kafka"})
    return found[TRANSIT], found[PRODUCE]


def _percentiles_ms(phase: Histogram) -> dict[str, float]:
    return {p: phase.quantile(q) * 1e3 for p, q in QUANTILES.items()}
