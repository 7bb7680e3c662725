"""Per-policy memo of what the engine asks the policy about every message.

Where a recipient's messages go (transport and topic) and which filter chain
a (sender, recipient) pair runs are pure functions of the compiled policy,
which never changes once built; a reload brings a new policy with a new
version. So both are memoised per policy version, and the memo is dropped
whole when the version changes. Bounded: past ``capacity`` entries a memo
starts afresh (only reachable with a very large, very busy fleet).
"""

from __future__ import annotations

from bus.decision import PolicyView
from bus.engine.chain import ChainRunner
from bus.engine.filter_set import FilterSet

DEFAULT_CAPACITY = 100_000


class Routes:
    __slots__ = ("_capacity", "_chains", "_destinations", "_filters", "_version")

    def __init__(self, filters: FilterSet, capacity: int = DEFAULT_CAPACITY) -> None:
        self._filters = filters
        self._capacity = capacity
        self._version: str | None = None
        self._destinations: dict[str, tuple[str, str]] = {}
        self._chains: dict[tuple[str, str], ChainRunner | None] = {}

    def _check(self, policy: PolicyView) -> None:
        if policy.version != self._version:
            self._version = policy.version
            self._destinations = {}
            self._chains = {}

    def destination(self, policy: PolicyView, recipient: str) -> tuple[str, str]:
        """(transport, topic) for messages to ``recipient``."""
        self._check(policy)
        found = self._destinations.get(recipient)
        if found is None:
            if len(self._destinations) >= self._capacity:
                self._destinations = {}
            found = (policy.transport_of(recipient), policy.inbox_topic(recipient))
            self._destinations[recipient] = found
        return found

    def chain(self, policy: PolicyView, sender: str, recipient: str) -> ChainRunner | None:
        """The pair's filter chain, or None when no filter applies."""
        self._check(policy)
        pair = (sender, recipient)
        try:
            return self._chains[pair]
        except KeyError:
            pass
        if len(self._chains) >= self._capacity:
            self._chains = {}
        configs = policy.filters_for(sender, recipient)
        chain = self._filters.chain_for(configs) if configs else None
        self._chains[pair] = chain
        return chain
