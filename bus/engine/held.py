"""A message held in the delay queue, with what it needs to continue later."""

from __future__ import annotations

from collections.abc import Hashable

from bus.engine.chain import ChainRunner
from bus.envelope import Envelope

Flow = tuple[str, str]
"""(sender, recipient): the unit of ordering and of fairness in the delay queue."""


class HeldMessage:
    """One (envelope, recipient) waiting for its release time.

    ``resume`` is the index of the filter to run next (0 for a message that
    queued behind its flow without running its chain yet); ``chain`` is None
    when the pair has no filters. ``since`` is when it was first held, on the
    engine's clock; ``filter`` names the filter that delayed it last.
    """

    __slots__ = ("chain", "env", "filter", "origin", "recipient", "resume", "rule", "since")

    def __init__(
        self,
        env: Envelope,
        recipient: str,
        chain: ChainRunner | None,
        resume: int,
        origin: Hashable,
        since: float,
        rule: str,
    ) -> None:
        self.env = env
        self.recipient = recipient
        self.chain = chain
        self.resume = resume
        self.origin = origin
        self.since = since
        self.rule = rule
        self.filter: str | None = None
