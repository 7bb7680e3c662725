"""Conformity damping: Delphi-style controls against peer pressure in a group.

A message is *stance-bearing* when it carries ``membrane-stance`` or its
kind is one of ``stance_kinds``. Three controls, each optional:

- ``sequester`` — independent answers first. Stance posts in a group are
  gathered in rounds: a round opens with the first stance after the last
  round ended, and ends when every member of the group (``group_size``) has
  posted a stance of its own, or ``round_timeout`` seconds after it opened.
  Until then the fan-out of each stance post of the round is held with
  ``Delay`` verdicts of at most ``poll_interval`` seconds; the filter
  re-checks the message each time it is released
  (``recheck_after_delay``), so a completed round lets its posts go within
  one poll interval. Reason ``sequester``.
- ``blind`` — peers receive the content without the stance: the
  ``membrane-stance`` header is removed and the top-level ``blind_fields``
  of a JSON payload are stripped (a ``Rewrite``).
- ``protect_dissent`` — a stance other than the group's current majority
  (``SensorView.majority_stance``) is never held: it is not sequestered,
  and it is marked protected so that no damping filter after this one in
  the chain may delay it either. Silencing the minority is exactly the
  failure this filter exists to prevent.

``trigger: always`` applies the controls to every stance post; with
``trigger: sensor`` only while the group's ``sensor`` (default
``conformity_rate``) is above ``threshold``. State is one round per group
(``max_groups``) and the round each held message belongs to (``max_held``).
"""

from __future__ import annotations

from typing import Literal

from bus import headers as h
from bus.clock import Clock
from bus.envelope import Envelope
from bus.verdict import FORWARD, Delay, Rewrite, Verdict
from filters.base import FilterConfig, FilterContext
from filters.recent import RecentKeys
from filters.state import KeyedState

REASON = "sequester"


class ConformityConfig(FilterConfig, frozen=True, tag="conformity"):
    sequester: bool = True
    blind: bool = False
    protect_dissent: bool = True
    trigger: Literal["always", "sensor"] = "always"
    sensor: str = "conformity_rate"
    threshold: float = 0.5
    round_timeout: float = 30.0
    poll_interval: float = 0.25
    stance_kinds: tuple[str, ...] = ()
    blind_fields: tuple[str, ...] = ("stance", "vote")
    max_groups: int = 1_000
    max_held: int = 10_000

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (self.round_timeout > 0 and self.poll_interval > 0):
            raise ValueError("round_timeout and poll_interval must be greater than 0 seconds")
        if self.poll_interval > self.round_timeout:
            raise ValueError("poll_interval cannot be longer than round_timeout")
        if self.max_groups < 1 or self.max_held < 1:
            raise ValueError("max_groups and max_held must be at least 1")


class _Round:
    __slots__ = ("complete", "number", "posted", "started")

    def __init__(self) -> None:
        self.number = 0
        self.started = float("-inf")
        self.posted: set[str] = set()
        self.complete = True

    def over(self, now: float, timeout: float) -> bool:
        return self.complete or now - self.started >= timeout

    def post(self, sender: str, now: float, timeout: float, group_size: int) -> None:
        if self.over(now, timeout):
            self.number += 1
            self.started = now
            self.posted = set()
            self.complete = False
        self.posted.add(sender)
        if len(self.posted) >= group_size:
            self.complete = True
            self.posted = set()  # nothing to remember once the round has ended


class ConformityFilter:
    recheck_after_delay = True

    __slots__ = ("_blind", "_clock", "_config", "_held", "_rounds")

    def __init__(self, config: ConformityConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._rounds: KeyedState[str, _Round] = KeyedState(
            config.max_groups, 10 * config.round_timeout
        )
        # The round each post joined, by message id: one entry per post, so a
        # table of recent keys (no per-entry object, no reordering).
        self._held: RecentKeys[str, int] = RecentKeys(max(config.max_held, 2))
        self._blind = Rewrite({h.STANCE: None}, strip_fields=config.blind_fields)

    @property
    def config(self) -> ConformityConfig:
        return self._config

    def stance_bearing(self, env: Envelope) -> bool:
        return env.stance is not None or (
            bool(self._config.stance_kinds) and env.kind in self._config.stance_kinds
        )

    async def decide(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict:
        return self.decide_now(env, recipient, ctx)

    def decide_now(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict:
        if not self.stance_bearing(env):
            return FORWARD
        config = self._config
        now = self._clock.now()
        current = self._rounds.get_or_create(ctx.group, now, _Round)
        round_number = self._held.get(env.msg_id)
        if round_number is None:  # first recipient of this post: it joins the round
            current.post(env.sender, now, config.round_timeout, ctx.group_size)
            round_number = current.number
            self._held.put(env.msg_id, round_number)

        if config.trigger == "sensor" and ctx.sensors.value(ctx.group, config.sensor) <= (
            config.threshold
        ):
            return FORWARD
        release: Verdict = self._blind if config.blind else FORWARD
        if config.protect_dissent and self._dissents(env, ctx):
            ctx.protected = True
            return release
        if config.sequester and round_number == current.number and not current.over(
            now, config.round_timeout
        ):
            remaining = current.started + config.round_timeout - now
            return Delay(min(config.poll_interval, remaining), REASON)
        return release

    @staticmethod
    def _dissents(env: Envelope, ctx: FilterContext) -> bool:
        majority = ctx.sensors.majority_stance(ctx.group)
        return env.stance is not None and majority is not None and env.stance != majority
