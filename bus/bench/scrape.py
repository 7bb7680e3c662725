"""Reading a benchmark child's histograms from its /metrics endpoint.

A child that serves /metrics (the gateway; the relays with ``--metrics-port``)
reports what only it can see: the time its own code spent. A histogram is
read as cumulative bucket counts; two readings around a phase give that
phase's distribution, and ``quantile`` estimates a percentile from it the
way Prometheus's ``histogram_quantile`` does (linear within the bucket).
"""

from __future__ import annotations

import math
import urllib.request
from collections.abc import Mapping, Sequence

from prometheus_client.parser import text_string_to_metric_families

NAN = float("nan")
SCRAPE_TIMEOUT = 10.0


class Histogram:
    """Cumulative counts per upper bound (+Inf last), and the sum of the observations."""

    __slots__ = ("buckets", "total")

    def __init__(self, buckets: Sequence[tuple[float, float]], total: float) -> None:
        self.buckets = tuple(buckets)
        self.total = total

    @property
    def count(self) -> float:
        return self.buckets[-1][1] if self.buckets else 0.0

    def minus(self, earlier: Histogram) -> Histogram:
        """What was observed between ``earlier`` and this reading."""
        before = dict(earlier.buckets)
        return Histogram([(le, n - before.get(le, 0.0)) for le, n in self.buckets],
                         self.total - earlier.total)

    def mean(self) -> float:
        return self.total / self.count if self.count else NAN

    def quantile(self, q: float) -> float:
        """The ``q`` quantile, interpolated linearly within its bucket; NaN if empty."""
        if not self.count:
            return NAN
        rank = q * self.count
        lower, below = 0.0, 0.0
        for bound, cumulative in self.buckets:
            if cumulative >= rank:
                if math.isinf(bound):
                    return lower  # beyond the last finite bound: the best known floor
                inside = cumulative - below
                return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
            lower, below = bound, cumulative
        return lower


def read_histograms(port: int, names: Sequence[str], labels: Mapping[str, str]
                    ) -> dict[str, Histogram]:
    """The histograms ``names`` with ``labels`` as the child on ``port`` serves them now
    (one scrape for all of them)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                timeout=SCRAPE_TIMEOUT) as response:
        text = response.read().decode()
    buckets: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    totals = dict.fromkeys(names, 0.0)
    for family in text_string_to_metric_families(text):
        if family.name not in buckets:
            continue
        for sample in family.samples:
            if any(sample.labels.get(k) != v for k, v in labels.items()):
                continue
            if sample.name.endswith("_bucket"):
                buckets[family.name].append((float(sample.labels["le"]), sample.value))
            elif sample.name.endswith("_sum"):
                totals[family.name] = sample.value
    return {name: Histogram(sorted(buckets[name]), totals[name]) for name in names}


def read_histogram(port: int, name: str, labels: Mapping[str, str]) -> Histogram:
    """The histogram ``name`` with ``labels`` as the child on ``port`` serves it now."""
    return read_histograms(port, [name], labels)[name]
