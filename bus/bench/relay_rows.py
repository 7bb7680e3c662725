"""Throughput and latency of one configuration, measured through a real broker.

A configuration is either *direct* (no proxy: senders write to inboxes) or a
relay started as a child process, so its CPU time and peak memory are its
own. Throughput is measured at saturation: the outboxes are preloaded, the
relay is started, and the rate is taken between the first and the last
message arriving in the inboxes. Latency is measured at a fixed offered load
with a warmed-up relay, from the sender's clock to the collector's.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence

from bus.bench.collector import Collector
from bus.bench.procstat import cpu_seconds, peak_rss_bytes
from bus.bench.workload import Workload, ensure_topics, paced_send, preload

# Builds the relay's command line from (bootstrap, consumer group, workload).
Launcher = Callable[[str, str, Workload], Sequence[str]]


def noop_launcher(bootstrap: str, group: str, workload: Workload) -> list[str]:
    return [sys.executable, "-m", "bus.bench.noop_relay", bootstrap, group]


class Row:
    """One configuration's figures; NaN where not measured."""

    __slots__ = (
        "config",
        "cpu_s_per_million",
        "lost",
        "msgs_per_s",
        "p50_ms",
        "p99_ms",
        "p999_ms",
        "peak_rss_mb",
        "processes",
    )

    def __init__(self, config: str) -> None:
        self.config = config
        self.msgs_per_s = float("nan")
        self.cpu_s_per_million = float("nan")
        self.peak_rss_mb = float("nan")
        self.p50_ms = float("nan")
        self.p99_ms = float("nan")
        self.p999_ms = float("nan")
        self.lost = 0
        self.processes = 0

    def as_dict(self) -> dict[str, float | str | int]:
        return {name: getattr(self, name) for name in self.__slots__}


def _start(launcher: Launcher, bootstrap: str, group: str, workload: Workload, n: int
           ) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(list(launcher(bootstrap, group, workload)), stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(n)
    ]


def _stop(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    for p in processes:
        p.terminate()
    for p in processes:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


async def saturation(
    bootstrap: str,
    name: str,
    launcher: Launcher | None,
    workload_of: Callable[[str], Workload],
    count: int,
    *,
    processes: int = 1,
    timeout: float = 300.0,
) -> Row:
    """Messages per second, CPU per million messages and peak RSS at saturation."""
    row = Row(name)
    workload = workload_of(f"s{uuid.uuid4().hex[:6]}x")
    await ensure_topics(bootstrap, workload.inbox_topics)
    collector = Collector(bootstrap, workload.inbox_topics)
    await collector.start()
    started: list[subprocess.Popen[bytes]] = []
    try:
        if launcher is None:
            t0 = time.monotonic()
            await preload(bootstrap, workload, count, direct=True)
            ok = await collector.wait_for(count, timeout)
            elapsed = (collector.last_at or t0) - t0
        else:
            await preload(bootstrap, workload, count, direct=False)
            started = _start(launcher, bootstrap, f"g-{uuid.uuid4().hex[:8]}", workload,
                             processes)
            ok = await collector.wait_for(count, timeout)
            elapsed = (collector.last_at or 0.0) - (collector.first_at or 0.0)
            cpu = sum(cpu_seconds(p.pid) for p in started)
            row.cpu_s_per_million = cpu / max(collector.received, 1) * 1e6
            row.peak_rss_mb = max(peak_rss_bytes(p.pid) for p in started) / 1e6
        row.processes = processes if launcher is not None else 0
        row.lost = count - collector.received
        if ok and elapsed > 0:
            row.msgs_per_s = collector.received / elapsed
    finally:
        _stop(started)
        await collector.stop()
    return row


async def latency(
    bootstrap: str,
    name: str,
    launcher: Launcher | None,
    workload_of: Callable[[str], Workload],
    rate: float,
    seconds: float,
    *,
    timeout: float = 120.0,
) -> Row:
    """Latency percentiles at a fixed offered load, after a warm-up."""
    row = Row(name)
    started: list[subprocess.Popen[bytes]] = []
    group = f"g-{uuid.uuid4().hex[:8]}"
    warm = workload_of(f"w{uuid.uuid4().hex[:6]}x")
    workload = workload_of(f"l{uuid.uuid4().hex[:6]}x")
    await ensure_topics(bootstrap, warm.inbox_topics + workload.inbox_topics)
    direct = launcher is None
    try:
        if launcher is not None:
            started = _start(launcher, bootstrap, group, warm, 1)
            warm_collector = Collector(bootstrap, warm.inbox_topics)
            await warm_collector.start()
            try:
                await preload(bootstrap, warm, warm.agents * 10, direct=False)
                if not await warm_collector.wait_for(warm.agents * 10, timeout):
                    return row
            finally:
                await warm_collector.stop()
        collector = Collector(bootstrap, workload.inbox_topics)
        await collector.start()
        try:
            sent = await paced_send(bootstrap, workload, rate, seconds, direct=direct)
            await collector.wait_for(sent, timeout)
            row.lost = sent - collector.received
            summary = collector.latency_summary()
            row.p50_ms, row.p99_ms, row.p999_ms = (
                summary["p50_ms"], summary["p99_ms"], summary["p999_ms"]
            )
        finally:
            await collector.stop()
    finally:
        _stop(started)
    return row

