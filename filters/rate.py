"""Rate limiting per sender, per edge or per group, by GCRA (a token bucket).

Algorithm: one ``filters.gcra.Gcra`` per key, where the key is the sender
(``per: sender``), the (sender, recipient) edge (``per: edge``) or the
interaction group (``per: group``). Each key may send ``burst`` messages
back to back and then ``rate`` per second.

Parameters: ``rate`` (messages per second), ``burst``, ``per``, ``action``,
``max_delay``, ``max_keys``. With ``action: shape`` a message that comes too
early is delayed until it conforms — its slot is reserved, so the released
messages keep the rate — unless that would take longer than ``max_delay``,
in which case it is diverted with reason ``rate-limit``. With
``action: police`` an early message is diverted at once. Keys are evicted
once their schedule is back in the past (nothing to remember) and, beyond
``max_keys``, least recently used first.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Literal

from bus.clock import Clock
from bus.envelope import Envelope
from bus.verdict import FORWARD, Delay, Divert, Verdict
from filters.base import FilterConfig, FilterContext
from filters.gcra import Gcra
from filters.state import KeyedState

REASON = "rate-limit"

RateKey = Literal["sender", "edge", "group"]
RateAction = Literal["shape", "police"]


class RateConfig(FilterConfig, frozen=True, tag="rate"):
    rate: float = 10.0
    burst: int = 10
    per: RateKey = "sender"
    action: RateAction = "shape"
    max_delay: float = 5.0
    max_keys: int = 10_000

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.rate > 0:
            raise ValueError("rate must be greater than 0 messages per second")
        if self.burst < 1:
            raise ValueError("burst must be at least 1")
        if self.max_delay < 0:
            raise ValueError("max_delay cannot be negative")
        if self.max_keys < 1:
            raise ValueError("max_keys must be at least 1")


def rate_key(per: RateKey, env: Envelope, recipient: str, ctx: FilterContext) -> Hashable:
    """What one bucket is shared by."""
    if per == "sender":
        return env.sender
    if per == "edge":
        return (env.sender, recipient)
    return ctx.group


class RateFilter:
    __slots__ = ("_buckets", "_clock", "_config", "_interval", "_max_wait")

    def __init__(self, config: RateConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._interval = 1.0 / config.rate
        self._max_wait = config.max_delay if config.action == "shape" else 0.0
        # A key idle this long has its whole schedule in the past.
        idle = config.max_delay + config.burst * self._interval
        self._buckets: KeyedState[Hashable, Gcra] = KeyedState(config.max_keys, idle)

    @property
    def config(self) -> RateConfig:
        return self._config

    def __len__(self) -> int:
        return len(self._buckets)

    async def decide(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict:
        return self.decide_now(env, recipient, ctx)

    def decide_now(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict:
        config = self._config
        now = self._clock.now()
        key = rate_key(config.per, env, recipient, ctx)
        bucket = self._buckets.get_or_create(key, now, Gcra)
        wait = bucket.reserve(now, self._interval, config.burst, self._max_wait)
        if wait is None:
            return Divert(REASON, f"over {config.rate:g}/s per {config.per} ({config.action})")
        if wait > 0:
            return Delay(wait, REASON)
        return FORWARD
