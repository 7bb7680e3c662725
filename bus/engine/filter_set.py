"""The filter set: the live filter instances of a policy, and the chains built from them.

A filter instance holds state (token buckets, pair counters, breaker
states), so it must outlive a single message and, where possible, a policy
reload. Instances are keyed by their config, which is a frozen, hashable
Struct: equal configs share one instance, and after ``update`` an instance
whose config is unchanged keeps its state while changed or removed ones are
dropped. Chains are cached per tuple of configs (the policy hands out the
same few tuples again and again) and rebuilt after an update.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bus.clock import Clock
from bus.engine.chain import ChainRunner
from bus.metrics import Metrics, drop_series
from filters.base import ExportsMetrics, Filter, FilterConfig
from filters.registry import build_filter

MAX_CACHED_CHAINS = 4_096


class FilterSet:
    """Builds filters once per config and chains once per config tuple."""

    __slots__ = ("_chains", "_clock", "_instances", "_max_chains", "_metrics")

    def __init__(
        self,
        clock: Clock,
        metrics: Metrics | None = None,
        *,
        max_chains: int = MAX_CACHED_CHAINS,
    ) -> None:
        self._clock = clock
        self._metrics = metrics
        self._max_chains = max_chains
        self._instances: dict[FilterConfig, Filter] = {}
        self._chains: dict[tuple[FilterConfig, ...], ChainRunner] = {}

    def __len__(self) -> int:
        return len(self._instances)

    def instance(self, config: FilterConfig) -> Filter:
        """The live filter for ``config``, built on first use."""
        flt = self._instances.get(config)
        if flt is None:
            flt = build_filter(config, self._clock)
            if self._metrics is not None and isinstance(flt, ExportsMetrics):
                flt.bind_metrics(self._metrics)
            self._instances[config] = flt
        return flt

    def chain_for(self, configs: Sequence[FilterConfig]) -> ChainRunner:
        """The chain for these configs, in this order."""
        key = configs if isinstance(configs, tuple) else tuple(configs)
        chain = self._chains.get(key)
        if chain is None:
            if len(self._chains) >= self._max_chains:
                # Only reachable with a pathological policy; rebuilding is cheap
                # because the instances (and their state) are kept.
                self._chains.clear()
            chain = ChainRunner(
                [self.instance(c) for c in key], metrics=self._metrics, clock=self._clock
            )
            self._chains[key] = chain
        return chain

    def update(self, all_configs: Iterable[FilterConfig]) -> None:
        """Adopt the filter configs of a new policy.

        Instances whose config is still present keep their state; the others
        are dropped; new ones are built now so their gauges appear at once.
        """
        wanted = list(all_configs)
        keep = set(wanted)
        self._instances = {c: f for c, f in self._instances.items() if c in keep}
        self._chains.clear()
        if self._metrics is not None:
            names = {config.instance_name for config in keep}
            for metric in self._metrics.per_filter:
                drop_series(metric, "filter", names)
        for config in wanted:
            self.instance(config)
