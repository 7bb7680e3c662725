"""Per-agent sensor state, bounded by a least-recently-active table.

A group tracks at most ``capacity`` agents. The table is an insertion-ordered
dict used as an LRU list: touching an agent moves it to the end (O(1)), so
the front is always the agent idle the longest. An agent is evicted when the
table is full and a new one arrives, or when it has been idle longer than
``idle_seconds``: ``sweep`` evicts idle agents from the front, a bounded
number per call as the group's intervals roll over, all of them at scrape
time. Eviction calls ``on_evict``
so the group can take the agent's stance out of its tallies.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterator


class AgentState:
    """What the sensors remember about one agent.

    ``stance`` is its latest stance label, ``before`` the one it held before
    its latest change (for A->B->A reverts), ``first`` its first stance and
    ``first_value``/``value`` the numeric values when the scale is numeric.
    ``exposure`` counts the stances delivered to it since its last stance
    message (None when nothing was delivered). ``rate`` is an exponentially
    decayed message rate, kept only when per-agent metrics are on.
    """

    __slots__ = (
        "before",
        "drift",
        "exposure",
        "first",
        "first_value",
        "last_seen",
        "rate",
        "rate_at",
        "stance",
        "value",
    )

    def __init__(self, now: float) -> None:
        self.stance: str | None = None
        self.before: str | None = None
        self.first: str | None = None
        self.value = math.nan
        self.first_value = math.nan
        self.drift = 0.0
        self.exposure: dict[str, int] | None = None
        self.last_seen = now
        self.rate = 0.0
        self.rate_at = now

    def rate_now(self, now: float, tau: float) -> float:
        """The decayed message rate at ``now`` (messages per second)."""
        return self.rate * math.exp(-max(0.0, now - self.rate_at) / tau)

    def count_message(self, now: float, tau: float) -> None:
        """Exponentially weighted rate with time constant ``tau``: each message
        adds 1/tau, and the estimate decays by exp(-dt/tau) in between."""
        self.rate = self.rate_now(now, tau) + 1.0 / tau
        self.rate_at = now


class AgentTable:
    __slots__ = ("_agents", "_capacity", "_idle", "_on_evict", "evicted")

    def __init__(
        self,
        *,
        capacity: int,
        idle_seconds: float,
        on_evict: Callable[[AgentState], None],
    ) -> None:
        self._agents: OrderedDict[str, AgentState] = OrderedDict()
        self._capacity = capacity
        self._idle = idle_seconds
        self._on_evict = on_evict
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._agents)

    def __contains__(self, agent: str) -> bool:
        return agent in self._agents

    def items(self) -> Iterator[tuple[str, AgentState]]:
        return iter(self._agents.items())

    def touch(self, agent: str, now: float) -> AgentState:
        """The agent's state, created if new, marked as active at ``now``."""
        state = self._agents.get(agent)
        if state is None:
            state = AgentState(now)
            self._agents[agent] = state
            if len(self._agents) > self._capacity:
                self._evict_front()
        else:
            self._agents.move_to_end(agent)
            state.last_seen = now
        return state

    def sweep(self, now: float, limit: int | None = None) -> None:
        """Evict agents idle longer than ``idle_seconds``, at most ``limit`` of them."""
        evicted = 0
        while (limit is None or evicted < limit) and self._evict_idle_front(now):
            evicted += 1

    def _evict_idle_front(self, now: float) -> bool:
        if not self._agents:
            return False
        oldest = next(iter(self._agents.values()))
        if now - oldest.last_seen <= self._idle:
            return False
        self._evict_front()
        return True

    def _evict_front(self) -> None:
        _, state = self._agents.popitem(last=False)
        self.evicted += 1
        self._on_evict(state)
