"""The benchmark's building blocks, without a broker: traffic shapes, statistics, reports."""

from __future__ import annotations

import math
from pathlib import Path

import msgspec
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from bus import headers as h
from bus.bench import report
from bus.bench.collector import Collector, percentile
from bus.bench.decision_cost import flatness
from bus.bench.plan import FULL, QUICK
from bus.bench.rules import FULL_CHAIN, fleet_rules, write_rules
from bus.bench.workload import Workload, read_stamp
from bus.envelope import Envelope
from bus.fastmetrics import PlainHistogram, plain_counter
from bus.policy import load_policy
from filters.registry import REGISTRY


def test_payloads_carry_their_sequence_number_and_size() -> None:
    workload = Workload(3, message_size=64)
    payload = workload.payload(41)
    assert len(payload) == 64
    assert read_stamp(payload)[1] == 41
    assert msgspec.json.decode(payload)["seq"] == 41  # agents' payloads are JSON
    with pytest.raises(ValueError):
        Workload(1)


def test_routes_go_round_the_ring_or_out_from_agent_zero() -> None:
    workload = Workload(3, prefix="x")
    assert workload.route(4, "direct") == ("agents.x2.inbox", [])
    topic, headers = workload.route(4, "relay")
    assert topic == "agents.x1.outbox"
    assert dict(headers)[h.TO] == b"x2" and h.STANCE in dict(headers)
    assert [workload.route(seq, "gateway")[0] for seq in range(3)] == [
        "agents.x1.inbox", "agents.x2.inbox", "agents.x1.inbox"]


def test_the_benchmark_rules_permit_every_pair_and_run_every_filter(tmp_path: Path) -> None:
    policy = load_policy(write_rules(tmp_path / "r.yaml", fleet_rules(["a", "b"],
                                                                     full_chain=True)))
    assert policy.decide(Envelope(sender="a", payload=b"x"), "b").allowed
    assert {type(c).__struct_config__.tag for c in policy.filters_for("a", "b")} == set(REGISTRY)
    assert len(FULL_CHAIN) == len(REGISTRY)


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert math.isnan(percentile([], 50))


def test_the_collector_counts_each_phase_and_every_duplicate() -> None:
    collector = Collector("unused:0", [])
    first, second = collector.phase(0, 3), collector.phase(3, 2)
    for seq in (0, 1, 1, 3, 9):
        collector._arrived(0, seq, 2_000_000, 1.0)
    assert (first.received, second.received) == (2, 1)
    assert collector.duplicates == 1 and collector.stray == 1
    assert first.latencies_ms == [2.0, 2.0] and not first.complete


def test_size_bursts_are_bounded_in_bytes() -> None:
    assert FULL.count_for_size(250) == FULL.saturation
    assert FULL.count_for_size(65_536) * 65_536 <= FULL.size_budget_bytes
    assert QUICK.warmup < 1_000 <= FULL.warmup  # the report heading tells them apart


def test_flatness_is_largest_over_smallest() -> None:
    assert flatness([{"us_per_message": 10.0}, {"us_per_message": 12.5}]) == 1.25


def test_report_tables_and_plot(tmp_path: Path) -> None:
    rows = [{"name": "a", "rate": 12345.6, "ratio": 0.4567, "missing": float("nan")}]
    md = report.markdown("T", rows, (("name", "n"), ("rate", "r"), ("ratio", "x"),
                                     ("missing", "m")))
    assert "| a | 12,346 | 0.457 | n/a |" in md
    section = report.Section("T", rows, (("name", "n"),))
    path = report.write(tmp_path, "## heading", [section], {"rows": rows})
    assert path.read_text().startswith("## heading\n\nMachine: ")
    png = report.plot(tmp_path, [report.Panel("bar", "t", "", "y", ["a"], [1.0]),
                                 report.Panel("line", "t", "x", "y", [1, 10], [1.0, 2.0])], "t")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_plain_values_keep_the_prometheus_series_exact() -> None:
    registry = CollectorRegistry()
    counter = Counter("c", "c", ["k"], registry=registry)
    histogram = Histogram("d_seconds", "d", buckets=(0.1, 1.0), registry=registry)
    counter.labels("x").inc(2)
    value = plain_counter(counter.labels("x"))
    assert plain_counter(counter.labels("x")) is value  # swapped once, shared after
    value.value += 3
    counter.labels("x").inc()
    fast = PlainHistogram(histogram)
    for seconds in (0.05, 0.1, 0.5, 2.0):
        fast.observe(seconds)
    assert registry.get_sample_value("c_total", {"k": "x"}) == 6
    assert registry.get_sample_value("d_seconds_bucket", {"le": "0.1"}) == 2
    assert registry.get_sample_value("d_seconds_bucket", {"le": "1.0"}) == 3
    assert registry.get_sample_value("d_seconds_count") == 4
    assert registry.get_sample_value("d_seconds_sum") == pytest.approx(2.65)
