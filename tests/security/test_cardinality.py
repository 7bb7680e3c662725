"""Metric label cardinality does not grow with the traffic.

Labels come from bounded sets (transport, outcome, rule, reason, filter,
verdict). Driving the engine with thousands of distinct senders, kinds,
stances, message ids and unknown recipient names must leave the number of
series exactly where a handful of messages left it, and none of those
per-message values may appear as a label value. (Per-agent sensor series
are capped separately: tests/metrics/test_conventions.py.)
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from bus.clock import FakeClock
from bus.engine.engine import Engine
from bus.envelope import Envelope
from bus.errors import ProtocolError
from bus.metrics import Metrics
from bus.policy import PolicyHolder, load_policy

RULES = """\
version: 1
agents: {hub: {}}
groups:
  workers: {patterns: ["w-*"]}
constitution:
  - {name: hop-limit, max_hops: 5}
edges:
  - {name: workers-to-hub, from: workers, to: hub, kinds: [report]}
  - {name: hub-to-workers, from: hub, to: workers}
filters:
  - filter: hops
    max_hops: 3
    attach: {groups: [workers]}
"""


def series(registry: CollectorRegistry) -> set[tuple[str, frozenset[tuple[str, str]]]]:
    return {(sample.name, frozenset(sample.labels.items()))
            for family in registry.collect() for sample in family.samples}


async def drive(policy_path: Path, distinct: int) -> Metrics:
    """``distinct`` messages, each with its own sender, kind, stance, id and stranger."""
    metrics = Metrics()
    engine = Engine(PolicyHolder(load_policy(policy_path)), metrics=metrics, clock=FakeClock())
    for i in range(distinct):
        sender = f"w-{i}"
        for recipients, kind in ((("hub",), "report"), (("hub",), f"kind-{i}"),
                                 (("hub", f"stranger-{i}"), "report"), (None, "report")):
            await engine.handle(Envelope(sender=sender, payload=b"{}", msg_id=f"id-{i}-{kind}",
                                         recipients=recipients, kind=kind,
                                         stance=f"stance-{i}", hops=i % 7))
        await engine.handle(Envelope(sender="hub", payload=b"{}", recipients=(sender,),
                                     hops=i % 5))
        for reason in ("bad-header", "bad-hops", "too-many"):
            engine.quarantine_invalid([], b"", None, sender, ProtocolError(reason, "bad"))
    return metrics


async def test_series_do_not_grow_with_distinct_senders_kinds_or_recipients(
    tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    few = series((await drive(rules, 8)).registry)
    many_metrics = await drive(rules, 3_000)
    many = series(many_metrics.registry)
    assert many == few
    label_values = {value for _, labels in many for _, value in labels}
    assert not {v for v in label_values if v.startswith(("w-", "kind-", "stranger-",
                                                         "stance-", "id-"))}
    sample = many_metrics.registry.get_sample_value
    assert sample("membrane_received_total", {"transport": "kafka"}) == 3_000 * 8
