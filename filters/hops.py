"""Hop and path limits: stop runaway forwarding chains and cycles.

Algorithm: every forwarded message carries ``membrane-hops`` (how many times
it has passed membrane) and ``membrane-path`` (the agents it passed through,
oldest first). Agents that reply to or delegate a message copy both headers
onto what they send. The filter diverts a message when its hop count would
exceed ``max_hops``, or, with ``forbid_cycles``, when the recipient already
appears on the path — which catches A→B→C→A as well as A→B→A, where pairwise
counters only see the latter.
"""

from __future__ import annotations

from bus.envelope import Envelope
from bus.verdict import FORWARD, Divert, Verdict
from filters.base import FilterConfig, FilterContext


class HopsConfig(FilterConfig, frozen=True, tag="hops"):
    max_hops: int = 8
    forbid_cycles: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_hops < 1:
            raise ValueError("max_hops must be at least 1")


class HopsFilter:
    __slots__ = ("_config",)

    def __init__(self, config: HopsConfig) -> None:
        self._config = config

    @property
    def config(self) -> HopsConfig:
        return self._config

    async def decide(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict:
        return self.decide_now(env, recipient, ctx)

    def decide_now(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict:
        if env.hops + 1 > self._config.max_hops:
            return Divert("hop-limit", f"{env.hops + 1} hops exceeds {self._config.max_hops}")
        if self._config.forbid_cycles and (recipient in env.path or recipient == env.sender):
            return Divert("cycle", f"{recipient} is already on the path")
        return FORWARD

