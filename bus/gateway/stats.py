"""Per-request latency the gateway adds, kept for benchmarks and exported as metrics.

"Added" means time spent in the gateway's own code for a request and its
response (decode, policy, re-encode), excluding the broker's time and any
deliberate throttling hold.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Histogram

from bus.gateway import versions as api
from bus.metrics import Metrics

API_NAMES: Final = {
    api.PRODUCE: "produce",
    api.FETCH: "fetch",
    api.METADATA: "metadata",
    api.FIND_COORDINATOR: "find_coordinator",
    api.SASL_HANDSHAKE: "sasl_handshake",
    api.API_VERSIONS: "api_versions",
    api.SASL_AUTHENTICATE: "sasl_authenticate",
    api.DESCRIBE_CLUSTER: "describe_cluster",
}
OTHER: Final = "other"
OUTCOMES: Final = ("forwarded", "answered")


def api_name(api_key: int) -> str:
    """A bounded label for an API key: inspected APIs by name, the rest as ``other``."""
    return API_NAMES.get(api_key, OTHER)


class LatencySummary:
    """Count, sum and maximum of one API's added latency."""

    __slots__ = ("count", "max", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.max = 0.0

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0


class GatewayStats:
    """Added latency per API (bounded: one summary per API label)."""

    __slots__ = ("_histograms", "_requests", "by_api")

    def __init__(self, metrics: Metrics) -> None:
        names = (*API_NAMES.values(), OTHER)
        self.by_api: dict[str, LatencySummary] = {name: LatencySummary() for name in names}
        self._histograms: dict[str, Histogram] = {
            name: metrics.gateway_added_seconds.labels(api=name) for name in names
        }
        self._requests: dict[tuple[str, str], Counter] = {
            (name, outcome): metrics.gateway_requests.labels(api=name, outcome=outcome)
            for name in names
            for outcome in OUTCOMES
        }

    def count_request(self, api_key: int, outcome: str) -> None:
        self._requests[api_name(api_key), outcome].inc()

    def record(self, api_key: int, seconds: float) -> None:
        name = api_name(api_key)
        summary = self.by_api[name]
        summary.count += 1
        summary.total += seconds
        if seconds > summary.max:
            summary.max = seconds
        self._histograms[name].observe(seconds)

    def overall(self) -> LatencySummary:
        """All APIs together."""
        total = LatencySummary()
        for summary in self.by_api.values():
            total.count += summary.count
            total.total += summary.total
            total.max = max(total.max, summary.max)
        return total
