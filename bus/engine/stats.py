"""The engine's metrics, with label children resolved once rather than per message.

Counters are bumped through ``bus.fastmetrics.PlainValue`` (no lock, no
method call); the decision duration is timed on one message in
``DECISION_SAMPLE_EVERY`` (see ``timing``), since reading the clock twice
per message costs more than the histogram is worth.
"""

from __future__ import annotations

from bus.decision import Decision
from bus.fastmetrics import PlainHistogram, PlainValue, plain_counter
from bus.metrics import Metrics, drop_series

MAX_CACHED_CHILDREN = 1_024  # rule names and reasons are bounded; this only guards reloads
DECISION_SAMPLE_EVERY = 16


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
        "_untimed",
    )

    def __init__(self, metrics: Metrics, transport: str) -> None:
        self._metrics = metrics
        messages = metrics.messages
        self._forwarded = plain_counter(messages.labels(transport, "forwarded"))
        self._delayed = plain_counter(messages.labels(transport, "delayed"))
        self._quarantined = plain_counter(messages.labels(transport, "quarantined"))
        self._shadowed = plain_counter(messages.labels(transport, "shadowed"))
        self._received = plain_counter(metrics.received.labels(transport))
        self._bytes = plain_counter(metrics.received_bytes.labels(transport))
        self._decision_seconds = PlainHistogram(metrics.decision_seconds)
        self._delay_seconds = metrics.delay_seconds
        self._depth = metrics.delay_queue_depth
        self._decisions: dict[tuple[str, str], PlainValue] = {}
        self._quarantined_by_reason: dict[str, PlainValue] = {}
        self._untimed = 0

    def received(self, size: int) -> None:
        self._received.value += 1
        self._bytes.value += size

    def decided(self, decision: Decision) -> None:
        if decision.shadow_rule is not None:
            self._decision(decision.shadow_rule, "shadow_deny")
        self._decision(decision.rule, "allow" if decision.allowed else "deny")

    def _decision(self, rule: str, verdict: str) -> None:
        key = (rule, verdict)
        value = self._decisions.get(key)
        if value is None:
            if len(self._decisions) >= MAX_CACHED_CHILDREN:
                self._decisions.clear()
            value = self._decisions[key] = plain_counter(
                self._metrics.decisions.labels(rule, verdict))
        value.value += 1

    def keep_rules(self, names: frozenset[str]) -> None:
        """Stop exporting decision counts of rules not in ``names``."""
        self._decisions.clear()
        drop_series(self._metrics.decisions, "rule", names)

    def forwarded(self) -> None:
        self._forwarded.value += 1

    def delayed(self) -> None:
        self._delayed.value += 1

    def shadowed(self) -> None:
        self._shadowed.value += 1

    def quarantined(self, reason: str) -> None:
        self._quarantined.value += 1
        value = self._quarantined_by_reason.get(reason)
        if value is None:
            if len(self._quarantined_by_reason) >= MAX_CACHED_CHILDREN:
                self._quarantined_by_reason.clear()
            value = plain_counter(self._metrics.quarantined.labels(reason))
            self._quarantined_by_reason[reason] = value
        value.value += 1

    def held(self, depth: int) -> None:
        self._depth.set(depth)

    def released(self, waited: float) -> None:
        self._delay_seconds.observe(waited)

    def timing(self) -> bool:
        """Whether to time this message's decision (one in ``DECISION_SAMPLE_EVERY``)."""
        if self._untimed:
            self._untimed -= 1
            return False
        self._untimed = DECISION_SAMPLE_EVERY - 1
        return True

    def decision_time(self, seconds: float) -> None:
        self._decision_seconds.observe(seconds)
