"""Echo damping: divert repeated content, and an agent's echo of what it was just told.

Algorithm: each message's payload is reduced to a normalised digest
(``filters.content``: JSON canonicalised, text case- and whitespace-folded,
``ignore_fields`` dropped). Two bounded tables of recent keys
(``filters.recent``: two generations of plain dicts, so a message costs a
dict operation or two) map a digest to when it was last seen:

- *repeats*, keyed by (scope, digest) where the scope is the edge
  (sender, recipient) with ``per: edge`` or the interaction group with
  ``per: group``: the same content again within ``window`` seconds is
  diverted with reason ``echo``. Seeing it again restarts the window, so a
  message repeated every few seconds stays diverted until it stops.
  The other recipients of the same message are not repeats.
- *received*, keyed by (agent, digest), filled through the outcome hook
  (``observe_outcome``) with what each agent was actually delivered: with
  ``own_echo``, an agent sending content it received within ``window``
  seconds is diverted with reason ``echo-own`` (the "thank you" / "as you
  said" loop). Deliveries to shared ``#channels`` are not recorded, since
  who reads a channel is not known here.

Parameters: ``window``, ``per``, ``own_echo``, ``ignore_fields``,
``min_length`` (shorter payloads, e.g. empty heartbeats, are never echoes),
``max_entries`` (per table). Memory is ``O(max_entries)``.
"""

from __future__ import annotations

from typing import Literal

from bus.clock import Clock
from bus.envelope import Envelope
from bus.verdict import FORWARD, Divert, Verdict
from filters.base import FilterConfig, FilterContext
from filters.content import content_digest
from filters.recent import RecentKeys

REPEAT = "echo"
OWN_ECHO = "echo-own"


class EchoConfig(FilterConfig, frozen=True, tag="echo"):
    window: float = 60.0
    per: Literal["edge", "group"] = "edge"
    own_echo: bool = True
    ignore_fields: tuple[str, ...] = ("id", "timestamp", "ts")
    min_length: int = 1
    max_entries: int = 100_000

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.window > 0:
            raise ValueError("window must be greater than 0 seconds")
        if self.min_length < 0:
            raise ValueError("min_length cannot be negative")
        if self.max_entries < 1:
            raise ValueError("max_entries must be at least 1")


# (when, id of the message first seen with the content), in the repeats table.
Sighting = tuple[float, str]


class EchoFilter:
    __slots__ = ("_clock", "_config", "_last_digest", "_last_id", "_received", "_repeats")

    def __init__(self, config: EchoConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._repeats: RecentKeys[tuple[object, int], Sighting] = RecentKeys(config.max_entries)
        self._received: RecentKeys[tuple[str, int], float] = RecentKeys(config.max_entries)
        # decide() runs once per recipient of a message: hash it once.
        self._last_id = ""
        self._last_digest = 0

    @property
    def config(self) -> EchoConfig:
        return self._config

    def _digest(self, env: Envelope) -> int | None:
        if env.size < self._config.min_length:
            return None
        if env.msg_id != self._last_id:
            self._last_digest = content_digest(env.payload, self._config.ignore_fields)
            self._last_id = env.msg_id
        return self._last_digest

    async def decide(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict:
        return self.decide_now(env, recipient, ctx)

    def decide_now(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict:
        digest = self._digest(env)
        if digest is None:
            return FORWARD
        config = self._config
        now = self._clock.now()
        if config.own_echo:
            received_at = self._received.get((env.sender, digest))
            if received_at is not None and now - received_at <= config.window:
                return Divert(OWN_ECHO, f"{env.sender} sent back content it received")
        scope: object = (env.sender, recipient) if config.per == "edge" else ctx.group
        key = (scope, digest)
        seen = self._repeats.get(key)
        if seen is None or now - seen[0] > config.window:
            self._repeats.put(key, (now, env.msg_id))
            return FORWARD
        first_id = seen[1]
        if first_id == env.msg_id:  # another recipient of the first copy
            return FORWARD
        # Keep the first copy's id, so every recipient of this repeat is refused.
        self._repeats.put(key, (now, first_id))
        return Divert(REPEAT, f"same content within {config.window:g}s per {config.per}")

    def observe_outcome(self, env: Envelope, recipient: str, diverted: bool, now: float) -> None:
        if diverted or not self._config.own_echo or recipient.startswith("#"):
            return
        digest = self._digest(env)
        if digest is not None:
            self._received.put((recipient, digest), now)
