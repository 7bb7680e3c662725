"""Ping-pong damping: slow down, then cut, two agents bouncing messages back and forth.

Algorithm: per unordered pair {A, B} the filter keeps who spoke last, when,
and an alternation score. A message from A to B that answers B's last
message to A within ``window`` seconds adds 1 to the score; between
messages the score decays exponentially with ``half_life``, so a pair that
goes quiet is forgiven. While the score is at most ``threshold`` (N) the
message passes. Beyond it, the k-th excess turn is delayed by
``base_delay * factor ** (k - 1)`` seconds, times a random factor in
``[1 - jitter, 1 + jitter]`` (so two agents do not resynchronise), drawn
from a seeded ``random.Random`` that tests can inject. Once that delay
would exceed ``max_delay`` the message is diverted with reason ``pingpong``.
An exchange that genuinely needs many turns slows down; a runaway one is cut.

Parameters: ``threshold``, ``window``, ``half_life``, ``base_delay``,
``factor``, ``jitter``, ``max_delay``, ``seed``, ``max_pairs``. A pair idle
for ten half-lives (score below 0.1 %) is forgotten.
"""

from __future__ import annotations

import math
import random

from bus.clock import Clock
from bus.envelope import Envelope
from bus.verdict import FORWARD, Delay, Divert, Verdict
from filters.base import FilterConfig, FilterContext
from filters.state import KeyedState

REASON = "pingpong"
FORGET_AFTER_HALF_LIVES = 10


class PingPongConfig(FilterConfig, frozen=True, tag="pingpong"):
    threshold: int = 6
    window: float = 30.0
    half_life: float = 30.0
    base_delay: float = 0.5
    factor: float = 2.0
    jitter: float = 0.2
    max_delay: float = 30.0
    seed: int | None = None
    max_pairs: int = 10_000

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.threshold < 0:
            raise ValueError("threshold cannot be negative")
        if not (self.window > 0 and self.half_life > 0 and self.base_delay > 0):
            raise ValueError("window, half_life and base_delay must be greater than 0")
        if self.factor < 1:
            raise ValueError("factor must be at least 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        if self.max_delay < self.base_delay:
            raise ValueError("max_delay must be at least base_delay")
        if self.max_pairs < 1:
            raise ValueError("max_pairs must be at least 1")


class _Exchange:
    __slots__ = ("last_at", "last_sender", "score")

    def __init__(self) -> None:
        self.last_sender = ""
        self.last_at = float("-inf")
        self.score = 0.0


class PingPongFilter:
    __slots__ = ("_clock", "_config", "_cutoff_turns", "_pairs", "_rng")

    def __init__(
        self, config: PingPongConfig, clock: Clock, rng: random.Random | None = None
    ) -> None:
        self._config = config
        self._clock = clock
        self._rng = rng if rng is not None else random.Random(config.seed)
        growth = math.log(config.factor) if config.factor > 1 else 0.0
        ratio = math.log(config.max_delay / config.base_delay)
        self._cutoff_turns = math.ceil(ratio / growth) + 2 if growth else 1
        idle = max(config.window, FORGET_AFTER_HALF_LIVES * config.half_life)
        self._pairs: KeyedState[tuple[str, str], _Exchange] = KeyedState(config.max_pairs, idle)

    @property
    def config(self) -> PingPongConfig:
        return self._config

    def score(self, a: str, b: str) -> float:
        """The pair's alternation score as last updated (for tests and tooling)."""
        exchange = self._pairs.peek((a, b) if a <= b else (b, a))
        return exchange.score if exchange is not None else 0.0

    async def decide(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict:
        return self.decide_now(env, recipient, ctx)

    def decide_now(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict:
        config = self._config
        now = self._clock.now()
        sender = env.sender
        key = (sender, recipient) if sender <= recipient else (recipient, sender)
        exchange = self._pairs.get_or_create(key, now, _Exchange)
        gap = now - exchange.last_at
        if exchange.score:
            exchange.score *= 0.5 ** (gap / config.half_life)
        if exchange.last_sender == recipient and gap <= config.window:
            exchange.score += 1.0
        exchange.last_sender = sender
        exchange.last_at = now

        excess = exchange.score - config.threshold
        if excess <= 0:
            return FORWARD
        # Capped where the delay surely exceeds max_delay, so the power cannot overflow.
        turns = min(math.ceil(excess - 1e-9), self._cutoff_turns)
        delay = config.base_delay * config.factor ** (turns - 1)
        if config.jitter:
            delay *= 1.0 + self._rng.uniform(-config.jitter, config.jitter)
        if delay > config.max_delay:
            return Divert(REASON, f"{sender}<->{recipient} alternated {exchange.score:.1f} times")
        return Delay(delay, REASON)
