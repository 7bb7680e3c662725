"""The engine's metrics, with label children resolved once rather than per message."""

from __future__ import annotations

from prometheus_client import Counter

from bus.decision import Decision
from bus.metrics import Metrics

MAX_CACHED_CHILDREN = 1_024  # rule names and reasons are bounded; this only guards reloads


class EngineStats:
    """Counters the engine bumps on its hot path (``membrane_messages_total`` and friends)."""

    __slots__ = (
        "_bytes",
        "_decision_seconds",
        "_decisions",
        "_delay_seconds",
        "_delayed",
        "_depth",
        "_forwarded",
        "_metrics",
        "_quarantined",
        "_quarantined_by_reason",
        "_received",
        "_shadowed",
    )

    def __init__(self, metrics: Metrics, transport: str) -> None:
        self._metrics = metrics
        messages = metrics.messages
        self._forwarded = messages.labels(transport, "forwarded")
        self._delayed = messages.labels(transport, "delayed")
        self._quarantined = messages.labels(transport, "quarantined")
        self._shadowed = messages.labels(transport, "shadowed")
        self._received = metrics.received.labels(transport)
        self._bytes = metrics.received_bytes.labels(transport)
        self._decision_seconds = metrics.decision_seconds
        self._delay_seconds = metrics.delay_seconds
        self._depth = metrics.delay_queue_depth
        self._decisions: dict[tuple[str, str], Counter] = {}
        self._quarantined_by_reason: dict[str, Counter] = {}

    def received(self, size: int) -> None:
        self._received.inc()
        self._bytes.inc(size)

    def decided(self, decision: Decision) -> None:
        if decision.shadow_rule is not None:
            self._decision(decision.shadow_rule, "shadow_deny")
        self._decision(decision.rule, "allow" if decision.allowed else "deny")

    def _decision(self, rule: str, verdict: str) -> None:
        key = (rule, verdict)
        child = self._decisions.get(key)
        if child is None:
            if len(self._decisions) >= MAX_CACHED_CHILDREN:
                self._decisions.clear()
            child = self._decisions[key] = self._metrics.decisions.labels(rule, verdict)
        child.inc()

    def forwarded(self) -> None:
        self._forwarded.inc()

    def delayed(self) -> None:
        self._delayed.inc()

    def shadowed(self) -> None:
        self._shadowed.inc()

    def quarantined(self, reason: str) -> None:
        self._quarantined.inc()
        child = self._quarantined_by_reason.get(reason)
        if child is None:
            if len(self._quarantined_by_reason) >= MAX_CACHED_CHILDREN:
                self._quarantined_by_reason.clear()
            child = self._metrics.quarantined.labels(reason)
            self._quarantined_by_reason[reason] = child
        child.inc()

    def held(self, depth: int) -> None:
        self._depth.set(depth)

    def released(self, waited: float) -> None:
        self._delay_seconds.observe(waited)

    def decision_time(self, seconds: float) -> None:
        self._decision_seconds.observe(seconds)
