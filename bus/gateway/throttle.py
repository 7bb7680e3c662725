"""Damping on the produce path: the policy's filters, applied as Kafka quotas are.

For every record the policy let through, the filter chain for (sender,
recipient) runs exactly as on the relay. Their verdicts take effect so:

- ``Divert``: the partition batch is refused with POLICY_VIOLATION, naming
  the filter and its reason (whole batches only, as for policy denials);
- ``Delay``: the whole request is held before it is forwarded — the broker
  sees the records later, the produce response comes later, and later
  requests on the connection wait behind it, like a muted quota channel.
  When the hold is over the delayed records continue from the filter that
  held them (``ChainOutcome.resume``). Holds are bounded by ``max_hold``
  (clients time requests out); any delay left over is reported in the
  response's ``throttle_time_ms`` so that the client backs off by itself.
"""

from __future__ import annotations

import asyncio
from typing import Final

from kio.schema.errors import ErrorCode

from bus.clock import Clock
from bus.engine.chain import ChainRunner
from bus.engine.filter_set import FilterSet
from bus.gateway.stamping import Decided, Refusal
from bus.metrics import Metrics
from bus.policy import Policy
from bus.verdict import Delay, Divert
from filters.base import FilterContext, SensorView

DEFAULT_MAX_HOLD: Final = 10.0
MAX_ROUNDS: Final = 64  # a filter that delays by ~0 forever cannot spin


class Damping:
    """The outcome of damping one request: refusals per partition, time held and owed."""

    __slots__ = ("held", "owed", "refused")

    def __init__(self) -> None:
        self.refused: dict[int, Refusal] = {}
        self.held = 0.0
        self.owed = 0.0

    @property
    def throttle_ms(self) -> int:
        return round((self.held + self.owed) * 1000)


class _Pending:
    __slots__ = ("chain", "delay", "partition", "position", "recipient", "resume")

    def __init__(
        self,
        partition: int,
        position: int,
        recipient: str,
        chain: ChainRunner,
        resume: int,
        delay: float,
    ) -> None:
        self.partition = partition
        self.position = position
        self.recipient = recipient
        self.chain = chain
        self.resume = resume
        self.delay = delay


class Damper:
    """Runs damping filters for one gateway; keeps filter state across requests."""

    def __init__(
        self,
        *,
        clock: Clock,
        metrics: Metrics | None,
        sensors: SensorView | None,
        max_hold: float = DEFAULT_MAX_HOLD,
    ) -> None:
        self._clock = clock
        self._sensors = sensors
        self._filters = FilterSet(clock, metrics)
        self._policy: Policy | None = None
        self.max_hold = max_hold

    def _adopt(self, policy: Policy) -> None:
        if policy is not self._policy:
            self._filters.update(policy.rules.filters)
            self._policy = policy

    async def damp(
        self, policy: Policy, sender: str, partitions: list[tuple[str, Decided]]
    ) -> Damping:
        """Run the filters for every envelope of ``partitions`` (recipient, records)."""
        self._adopt(policy)
        result = Damping()
        group = policy.group_of(sender)
        ctx = FilterContext(
            clock=self._clock,
            sensors=self._sensors,
            group=group,
            group_size=policy.group_size(group),
        )
        pending: list[_Pending] = []
        for index, (recipient, decided) in enumerate(partitions):
            configs = policy.filters_for(sender, recipient)
            if not configs:
                continue
            chain = self._filters.chain_for(configs)
            for position in range(len(decided.envelopes)):
                await self._run(
                    result,
                    pending,
                    decided,
                    ctx,
                    chain,
                    _Pending(index, position, recipient, chain, 0, 0.0),
                )
        rounds = 0
        while pending and rounds < MAX_ROUNDS:
            rounds += 1
            wait = max(p.delay for p in pending)
            allowed = self.max_hold - result.held
            if wait > allowed:
                result.owed = wait - max(allowed, 0.0)
                wait = max(allowed, 0.0)
            if wait > 0:
                await asyncio.sleep(wait)
                result.held += wait
            if result.owed:
                break  # out of hold time: forward, and let throttle_time_ms ask for the rest
            again, pending = pending, []
            for item in again:
                if item.partition in result.refused:
                    continue
                await self._run(
                    result, pending, partitions[item.partition][1], ctx, item.chain, item
                )
        return result

    async def _run(
        self,
        result: Damping,
        pending: list[_Pending],
        decided: Decided,
        ctx: FilterContext,
        chain: ChainRunner,
        item: _Pending,
    ) -> None:
        if item.partition in result.refused:
            return
        env = decided.envelopes[item.position]
        outcome = await chain.run(env, item.recipient, ctx, start=item.resume)
        decided.envelopes[item.position] = outcome.env
        verdict = outcome.verdict
        if isinstance(verdict, Delay):
            item.resume, item.delay = outcome.resume, verdict.seconds
            pending.append(item)
        elif isinstance(verdict, Divert):
            result.refused[item.partition] = Refusal(
                ErrorCode.policy_violation,
                "filter",
                f"record {item.position} diverted by filter {outcome.filter}: {verdict.reason}",
                ((item.position, verdict.reason),),
            )
