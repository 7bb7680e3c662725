"""The filter set: one instance per config, chains cached, state kept across reloads."""

from __future__ import annotations

import pytest

from bus.clock import Clock, FakeClock
from bus.engine.filter_set import FilterSet
from bus.envelope import Envelope
from bus.metrics import Metrics
from bus.verdict import FORWARD, Verdict
from filters import registry
from filters.base import FilterConfig, FilterContext
from filters.hops import HopsConfig


class GaugedConfig(FilterConfig, frozen=True, tag="gauged"):
    pass


class Gauged:
    def __init__(self, config: GaugedConfig, clock: Clock) -> None:
        self._config = config
        self.bound: list[Metrics] = []

    @property
    def config(self) -> GaugedConfig:
        return self._config

    def bind_metrics(self, metrics: Metrics) -> None:
        self.bound.append(metrics)

    async def decide(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict:
        return FORWARD


def test_equal_config_tuples_share_one_chain_and_equal_configs_one_instance() -> None:
    filters = FilterSet(FakeClock())
    a, a_again, b = HopsConfig(max_hops=3), HopsConfig(max_hops=3), HopsConfig(max_hops=5)
    chain = filters.chain_for((a, b))
    assert filters.chain_for([a_again, b]) is chain
    assert filters.instance(a_again) is chain.filters[0]
    assert filters.chain_for((b, a)) is not chain
    assert filters.chain_for((b, a)).filters == (chain.filters[1], chain.filters[0])
    assert len(filters) == 2


def test_update_keeps_unchanged_instances_and_drops_the_rest() -> None:
    filters = FilterSet(FakeClock())
    kept, changed = HopsConfig(max_hops=3), HopsConfig(max_hops=5)
    old_chain = filters.chain_for((kept, changed))
    kept_instance = filters.instance(kept)
    changed_instance = filters.instance(changed)

    replacement = HopsConfig(max_hops=6)
    filters.update([kept, replacement])
    assert filters.instance(kept) is kept_instance
    assert filters.instance(changed) is not changed_instance  # rebuilt: state not carried over
    new_chain = filters.chain_for((kept, changed))
    assert new_chain is not old_chain
    assert len(filters) == 3


def test_filters_with_gauges_get_the_metrics_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.REGISTRY, "gauged", (GaugedConfig, Gauged))
    metrics = Metrics()
    filters = FilterSet(FakeClock(), metrics)
    config = GaugedConfig()
    filters.update([config])
    instance = filters.instance(config)
    filters.chain_for((config,))
    assert isinstance(instance, Gauged) and instance.bound == [metrics]
    assert FilterSet(FakeClock()).instance(config).bound == []  # type: ignore[attr-defined]


def test_the_chain_cache_is_bounded() -> None:
    filters = FilterSet(FakeClock(), max_chains=2)
    configs = [HopsConfig(max_hops=n) for n in range(1, 5)]
    first = filters.chain_for((configs[0],))
    filters.chain_for((configs[1],))
    filters.chain_for((configs[2],))  # over the cap: the cache starts again
    assert filters.chain_for((configs[0],)) is not first
    assert filters.chain_for((configs[0],)).filters == first.filters


def _exported_filters(metrics: Metrics) -> set[str]:
    return {
        sample.labels["filter"]
        for metric in metrics.per_filter
        for family in metric.collect()
        for sample in family.samples
    }


def test_series_of_a_filter_dropped_by_an_update_stop_being_exported() -> None:
    metrics = Metrics()
    filters = FilterSet(FakeClock(), metrics)
    kept, renamed = HopsConfig(name="hops-a", max_hops=3), HopsConfig(name="hops-b", max_hops=5)
    filters.chain_for((kept, renamed))
    metrics.homeostat_output.labels("hops-b", "team").set(1.0)
    assert _exported_filters(metrics) == {"hops-a", "hops-b"}

    filters.update([kept, HopsConfig(name="hops-c", max_hops=5)])
    filters.chain_for((kept,))

    assert _exported_filters(metrics) == {"hops-a"}
