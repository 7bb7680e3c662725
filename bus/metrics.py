"""Every Prometheus metric membrane exports, defined in one place.

Conventions: prefix ``membrane_``, base units, ``_total`` for counters,
``_seconds`` and ``_bytes`` for measurements. Labels come only from bounded
sets (group, rule, filter, verdict, reason, transport, outcome); never a
label per message, topic or agent id. Hot paths use the ``child`` caches
rather than calling ``.labels()`` per message.

Each ``Metrics`` owns its own ``CollectorRegistry`` so tests can create a
fresh one and several relays can live in one process.

Per-group sensor series (``membrane_group_*``, stance and cascade counters
and histograms) are not defined here: ``bus.sensors.SensorHub.register``
adds a collector that computes them at scrape time. docs/metrics.md lists
every metric of both, and a test keeps that page complete.
"""

from __future__ import annotations

from collections.abc import Collection

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.metrics import MetricWrapperBase

import bus

LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0, 30.0,
)

OUTCOMES = ("forwarded", "delayed", "quarantined", "shadowed")
RELOAD_RESULTS = ("success", "failure")


def drop_series(metric: MetricWrapperBase, label: str, keep: Collection[str]) -> None:
    """Stop exporting every series of ``metric`` whose ``label`` is not in ``keep``:
    a rule or filter that a reload renamed or removed would otherwise stay in
    /metrics, frozen, until the process restarts."""
    names: tuple[str, ...] = metric._labelnames
    stale = {
        tuple(sample.labels[name] for name in names)
        for family in metric.collect()
        for sample in family.samples
        if sample.labels[label] not in keep
    }
    for values in stale:
        metric.remove(*values)


class Metrics:
    """The metrics container. Build one per running relay/bridge/gateway."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.build_info = Info("membrane_build", "Version of membrane that is running.", registry=r)
        self.build_info.info({"version": bus.__version__})

        self.messages = Counter(
            "membrane_messages_total",
            "Messages decided, per recipient, by outcome.",
            ["transport", "outcome"],
            registry=r,
        )
        self.received = Counter(
            "membrane_received_total",
            "Messages read from agents' outboxes.",
            ["transport"],
            registry=r,
        )
        self.received_bytes = Counter(
            "membrane_received_bytes_total",
            "Payload bytes read from agents' outboxes.",
            ["transport"],
            registry=r,
        )
        self.decisions = Counter(
            "membrane_policy_decisions_total",
            "Policy decisions by rule and verdict (allow, deny, shadow_deny).",
            ["rule", "verdict"],
            registry=r,
        )
        self.quarantined = Counter(
            "membrane_quarantined_total",
            "Messages diverted to quarantine, by reason.",
            ["reason"],
            registry=r,
        )
        self.decision_seconds = Histogram(
            "membrane_decision_duration_seconds",
            "Time to decide one message for all its recipients (policy and filters).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.end_to_end_seconds = Histogram(
            "membrane_end_to_end_latency_seconds",
            "From the record's broker timestamp to the broker acknowledging the output.",
            ["transport"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.transit_seconds = Histogram(
            "membrane_relay_transit_seconds",
            "From the relay reading an input to the broker acknowledging its last output: "
            "membrane's own share of a message's latency.",
            ["transport"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.produce_seconds = Histogram(
            "membrane_relay_produce_seconds",
            "From handing a batch of outputs to the producer to the broker acknowledging it "
            "(one observation per batch): the broker's share of the relay transit.",
            ["transport"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.filter_verdicts = Counter(
            "membrane_filter_verdicts_total",
            "Verdicts returned by each filter; shadow verdicts are counted with mode=shadow.",
            ["filter", "verdict", "mode"],
            registry=r,
        )
        self.filter_seconds = Histogram(
            "membrane_filter_duration_seconds",
            "Time spent in each filter's decide().",
            ["filter"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.filter_errors = Counter(
            "membrane_filter_errors_total",
            "Filter failures and timeouts, by the error policy applied.",
            ["filter", "policy"],
            registry=r,
        )
        self.delay_queue_depth = Gauge(
            "membrane_delay_queue_messages",
            "Messages held in the delay queue.",
            registry=r,
        )
        self.delay_seconds = Histogram(
            "membrane_delay_duration_seconds",
            "How long held messages waited before release.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.dedupe_dropped = Counter(
            "membrane_duplicates_removed_total",
            "Redelivered messages recognised by the dedupe window and not forwarded twice.",
            registry=r,
        )
        self.policy_version = Info(
            "membrane_policy", "The compiled policy in force.", registry=r
        )
        self.policy_reloads = Counter(
            "membrane_policy_reloads_total",
            "Rules reloads by result (success, failure).",
            ["result"],
            registry=r,
        )
        for result in RELOAD_RESULTS:  # a dashboard shows 0 reloads, not "no data"
            self.policy_reloads.labels(result)
        self.broker_up = Gauge(
            "membrane_broker_connected",
            "1 while the transport is connected to its broker.",
            ["transport"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "membrane_consumer_lag_messages",
            "Messages in agents' outboxes not yet read by this relay.",
            ["transport"],
            registry=r,
        )
        self.in_flight = Gauge(
            "membrane_in_flight_messages",
            "Input messages read but not yet committed.",
            ["transport"],
            registry=r,
        )

        # Gateway (Kafka-protocol sidecar). ``api`` is a bounded set of API names.
        self.gateway_connections = Gauge(
            "membrane_gateway_connections",
            "Client connections open through the gateway.",
            registry=r,
        )
        self.gateway_requests = Counter(
            "membrane_gateway_requests_total",
            "Requests handled by the gateway, by API and outcome (forwarded, answered).",
            ["api", "outcome"],
            registry=r,
        )
        self.gateway_added_seconds = Histogram(
            "membrane_gateway_added_latency_seconds",
            "Time the gateway itself spends on one request and its response (not broker time).",
            ["api"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.gateway_records = Counter(
            "membrane_gateway_records_total",
            "Records through the gateway: produced (stamped), shown and hidden in channel views.",
            ["outcome"],
            registry=r,
        )
        self.gateway_denied = Counter(
            "membrane_gateway_denied_total",
            "Partitions or topics the gateway refused, by API and reason.",
            ["api", "reason"],
            registry=r,
        )
        self.gateway_throttle_seconds = Counter(
            "membrane_gateway_throttle_seconds_total",
            "Seconds produce requests were held to throttle their agents.",
            registry=r,
        )
        self.homeostat_setpoint = Gauge(
            "membrane_homeostat_setpoint",
            "The value each homeostat holds its group's sensed variable at.",
            ["filter", "group"],
            registry=r,
        )
        self.homeostat_measured = Gauge(
            "membrane_homeostat_measured",
            "The sensed variable as each homeostat last read it.",
            ["filter", "group"],
            registry=r,
        )
        self.homeostat_output = Gauge(
            "membrane_homeostat_output",
            "The admission rate each homeostat currently grants its group, messages per second.",
            ["filter", "group"],
            registry=r,
        )
        self.per_filter: tuple[MetricWrapperBase, ...] = (
            self.filter_verdicts, self.filter_seconds, self.filter_errors,
            self.homeostat_setpoint, self.homeostat_measured, self.homeostat_output,
        )
