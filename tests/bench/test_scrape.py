"""Histograms read from a child's /metrics: phase deltas and percentiles."""

from __future__ import annotations

import asyncio
import math

from bus.bench.scrape import Histogram, read_histogram
from bus.http import MetricsServer
from bus.metrics import Metrics

INF = float("inf")


def test_quantiles_interpolate_within_the_bucket_as_prometheus_does() -> None:
    # 100 observations: 50 in (0, 1], 40 in (1, 2], 10 in (2, 4].
    phase = Histogram([(1.0, 50), (2.0, 90), (4.0, 100), (INF, 100)], total=120.0)
    assert phase.quantile(0.5) == 1.0
    assert phase.quantile(0.7) == 1.5
    assert phase.quantile(0.95) == 3.0
    assert phase.mean() == 1.2


def test_a_phase_is_the_difference_of_two_readings() -> None:
    before = Histogram([(1.0, 10), (2.0, 10), (INF, 10)], total=5.0)
    after = Histogram([(1.0, 10), (2.0, 30), (INF, 31)], total=45.0)
    phase = after.minus(before)
    assert phase.buckets == ((1.0, 0), (2.0, 20), (INF, 21))
    assert phase.count == 21
    assert 1.0 < phase.quantile(0.5) <= 2.0
    assert phase.quantile(1.0) == 2.0  # beyond the last finite bound: its floor


def test_an_empty_phase_has_no_percentile() -> None:
    assert math.isnan(Histogram([(1.0, 0), (INF, 0)], total=0.0).quantile(0.99))
    assert math.isnan(Histogram([], total=0.0).mean())


def test_a_histogram_is_read_from_a_live_metrics_endpoint() -> None:
    metrics = Metrics()
    for seconds in (0.0004, 0.003, 0.003, 0.2):
        metrics.transit_seconds.labels("kafka").observe(seconds)
    metrics.transit_seconds.labels("mqtt").observe(9.0)  # another series, left out

    async def scrape() -> Histogram:
        server = MetricsServer(metrics, port=0)
        async with server:
            return await asyncio.to_thread(read_histogram, server.port,
                                           "membrane_relay_transit_seconds",
                                           {"transport": "kafka"})

    found = asyncio.run(scrape())
    assert found.count == 4
    assert math.isclose(found.total, 0.2064)
    assert dict(found.buckets)[0.005] == 3
    assert 0.0025 < found.quantile(0.5) <= 0.005
