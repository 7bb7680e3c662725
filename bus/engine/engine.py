"""The engine: one envelope in, a list of outcomes out. Transport-independent.

Algorithm, per input envelope:

1. ``policy.recipients`` expands the address (explicit list, group, channel,
   or fan-out to every permitted neighbour); names that match nothing become
   ``unknown-recipient`` quarantine copies.
2. Per recipient, ``policy.decide`` (constitution first, then edges, then the
   default). A shadow rule that would have denied is counted and let through.
   A denial becomes a quarantine copy naming the rule and the reason.
3. Per permitted recipient, the filter chain of that (sender, recipient) pair
   runs. Forward and Divert become outcomes now; Delay holds the message
   under the flow ``(sender, recipient)``.
4. While a flow has held messages, later messages of that flow queue behind
   them without running their chain yet, so per-pair order is kept. A full
   queue quarantines with ``delay-queue-full``.
5. A message that resolves to nobody at all is quarantined whole
   (``no-recipient``): nothing is silently dropped.

Held messages are released by ``release_due`` (run by the timer task that
``start`` launches); their outcomes go to the callback set with
``on_release``. ``pending_for(origin)`` tells the transport how many outcomes
of an input are still held, so it does not acknowledge or commit that input.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Hashable, Sequence

from bus.clock import SYSTEM_CLOCK, Clock
from bus.decision import Decision, PolicyView
from bus.engine.filter_set import FilterSet
from bus.engine.held import HeldMessage
from bus.engine.holding import Holding
from bus.engine.invalid import invalid_outcome
from bus.engine.outcome import (
    VERDICT_DENY,
    VERDICT_DIVERT,
    VERDICT_UNROUTABLE,
    Outcome,
)
from bus.engine.ports import PolicySource, SensorSink
from bus.engine.routes import Routes
from bus.engine.stamping import Stamper
from bus.engine.stats import EngineStats
from bus.engine.tasks import BackgroundTask
from bus.envelope import Envelope
from bus.errors import ProtocolError
from bus.lifecycle import AsyncLifecycle
from bus.metrics import Metrics
from bus.rules.schema import RulesFile
from bus.rules.validate import rule_names
from bus.verdict import Delay, Divert
from filters.base import FilterContext

__all__ = ["Engine", "PolicySource", "ReleaseCallback", "SensorSink"]

log = logging.getLogger(__name__)

UNKNOWN_RECIPIENT = "unknown-recipient"
NO_RECIPIENT = "no-recipient"
DELAY_QUEUE_FULL = "delay-queue-full"
MAX_TIMER_SLEEP = 1.0  # seconds; bounds the cost of a missed wake-up
RELEASE_ROUND = 10_000  # flows served per round
MAX_RELEASE_ROUNDS = 100

ReleaseCallback = Callable[[list[Outcome]], None]


class Engine(AsyncLifecycle):
    """Decides envelopes against the current policy and filter chains."""

    def __init__(
        self,
        holder: PolicySource,
        *,
        metrics: Metrics | None = None,
        clock: Clock = SYSTEM_CLOCK,
        sensors: SensorSink | None = None,
        transport_name: str = "kafka",
        delay_capacity: int = 100_000,
        per_flow_capacity: int = 1_000,
    ) -> None:
        self._holder = holder
        self.metrics = metrics if metrics is not None else Metrics()
        self._clock = clock
        self._sensors = sensors
        self.transport_name = transport_name
        self._filters = FilterSet(clock, self.metrics)
        self._routes = Routes(self._filters)
        self._stamp = Stamper(self._routes, transport_name)
        self._holding = Holding(delay_capacity, per_flow_capacity)
        self._on_release: ReleaseCallback | None = None
        self._stats = EngineStats(self.metrics, transport_name)
        self._policy_version: str | None = None
        self._timer = BackgroundTask(self._run_timer, "membrane-delay-timer")

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        self._timer.start()

    async def stop(self) -> None:
        await self._timer.stop()

    def on_release(self, callback: ReleaseCallback | None) -> None:
        """Where outcomes of held messages go when they are released."""
        self._on_release = callback

    @property
    def held(self) -> int:
        """Messages (counted per recipient) held right now."""
        return len(self._holding)

    def next_release(self) -> float | None:
        """Clock time at which the earliest held message is due, or None."""
        return self._holding.next_due()

    def wake(self) -> None:
        """Make the timer look at the held messages now, e.g. after a simulated
        clock jumped ahead (the timer otherwise sleeps until its own deadline)."""
        self._holding.wakeup.set()

    def pending_for(self, origin: Hashable) -> int:
        """How many outcomes of the input ``origin`` are still held."""
        return self._holding.pending_for(origin)

    def discard_held(self) -> int:
        """Forget every held message (their inputs are unacknowledged and will be
        read again, e.g. after the transport reconnects). Returns how many."""
        dropped = self._holding.discard()
        self._stats.held(0)
        return dropped

    @property
    def policy(self) -> PolicyView:
        """The policy in force; adopting a new one keeps unchanged filters' state."""
        policy = self._holder.current
        if policy.version != self._policy_version:
            self._policy_version = policy.version
            rules = getattr(policy, "rules", None)
            if isinstance(rules, RulesFile):
                self._filters.update(rules.filters)
                self._stats.keep_rules(rule_names(rules))
            self.metrics.policy_version.info({"version": policy.version})
        return policy

    # -- deciding ----------------------------------------------------------

    async def handle(self, env: Envelope, origin: Hashable | None = None) -> list[Outcome]:
        """Decide ``env`` for all its recipients; outcomes held by a filter come later.

        Call sequentially per input stream: per-pair order follows call order.
        ``origin`` identifies the input for ``pending_for`` and is copied onto
        every outcome (``env.msg_id`` when not given).
        """
        timed = self._stats.timing()
        started = time.perf_counter() if timed else 0.0
        policy = self.policy
        key = origin if origin is not None else env.msg_id
        now = self._clock.now()
        group = policy.group_of(env.sender)
        self._stats.received(env.size)
        if self._sensors is not None:
            self._sensors.observe_sent(env, group, now)
        targets = policy.recipients(env)
        outcomes: list[Outcome] = []
        for name in targets.unknown:
            outcomes.append(self._quarantine(
                policy, env, name, key, VERDICT_DENY, UNKNOWN_RECIPIENT,
                detail=f"{name!r} is not an agent, group or channel"))
        for recipient in targets.resolved:
            decision = policy.decide(env, recipient)
            self._stats.decided(decision)
            if not decision.allowed:
                outcomes.append(self._quarantine(
                    policy, env, recipient, key, VERDICT_DENY, decision.reason,
                    rule=decision.rule))
                continue
            if decision.shadow_rule is not None:
                self._stats.shadowed()
            outcome = await self._run_chain(policy, env, recipient, decision, key, group, now)
            if outcome is not None:
                outcomes.append(outcome)
        if not targets.resolved and not targets.unknown:
            outcomes.append(self._quarantine(
                policy, env, None, key, VERDICT_UNROUTABLE, NO_RECIPIENT,
                detail="no recipient is addressed or permitted"))
        if timed:
            self._stats.decision_time(time.perf_counter() - started)
        return outcomes

    async def _run_chain(self, policy: PolicyView, env: Envelope, recipient: str,
                         decision: Decision, key: Hashable, group: str, now: float
                         ) -> Outcome | None:
        """The outcome for one permitted recipient, or None when it is held."""
        chain = self._routes.chain(policy, env.sender, recipient)
        flow = (env.sender, recipient)
        if self._holding.busy(flow):
            held = HeldMessage(env, recipient, chain, 0, key, now, decision.rule)
            if self._holding.hold_behind(flow, held, now):
                self._count_held()
                return None
            return self._queue_full(policy, held)
        if chain is None:
            return self._forward(policy, env, recipient, key, group, now)
        result = await chain.run(env, recipient, self._context(policy, group))
        if result.shadowed is not None:
            self._stats.shadowed()
        verdict = result.verdict
        if isinstance(verdict, Delay):
            held = HeldMessage(result.env, recipient, chain, result.resume, key, now,
                               decision.rule)
            held.filter = result.filter
            if self._holding.hold(flow, held, now + verdict.seconds):
                self._count_held()
                return None
            return self._queue_full(policy, held)
        if isinstance(verdict, Divert):
            return self._divert(policy, result.env, recipient, key, verdict, result.filter)
        return self._forward(policy, result.env, recipient, key, group, now)

    def _context(self, policy: PolicyView, group: str) -> FilterContext:
        return FilterContext(clock=self._clock, sensors=self._sensors, group=group,
                             group_size=policy.group_size(group))

    def _count_held(self) -> None:
        self._stats.delayed()
        self._stats.held(len(self._holding))

    # -- releasing ---------------------------------------------------------

    async def release_due(self) -> list[Outcome]:
        """Continue every held message whose time has come; returns their outcomes.

        Rounds of at most one message per flow: a message a filter delays
        again goes back to the head of its flow, so order survives repeated
        delays. At most ``MAX_RELEASE_ROUNDS`` rounds per call, so one call
        cannot monopolise the event loop.
        """
        outcomes: list[Outcome] = []
        policy = self.policy
        for _ in range(MAX_RELEASE_ROUNDS):
            now = self._clock.now()
            due = self._holding.begin_release(now, RELEASE_ROUND)
            if not due:
                break
            try:
                for flow, held in due:
                    outcome = await self._resume(policy, flow, held, now)
                    if outcome is not None:
                        outcomes.append(outcome)
            finally:
                for held in self._holding.end_release(now):
                    outcomes.append(self._queue_full(policy, held))
        self._stats.held(len(self._holding))
        return outcomes

    async def _resume(self, policy: PolicyView, flow: Hashable, held: HeldMessage, now: float
                      ) -> Outcome | None:
        group = policy.group_of(held.env.sender)
        if held.chain is None:
            outcome = self._forward(policy, held.env, held.recipient, held.origin, group, now)
        else:
            result = await held.chain.run(held.env, held.recipient, self._context(policy, group),
                                          start=held.resume)
            verdict = result.verdict
            if isinstance(verdict, Delay):
                held.env, held.resume, held.filter = result.env, result.resume, result.filter
                self._holding.requeue(flow, held, now + verdict.seconds)
                return None
            if isinstance(verdict, Divert):
                outcome = self._divert(policy, result.env, held.recipient, held.origin, verdict,
                                       result.filter)
            else:
                outcome = self._forward(policy, result.env, held.recipient, held.origin, group,
                                        now)
        self._stats.released(now - held.since)
        return outcome

    async def _run_timer(self) -> None:
        """Release held messages when due; sleeps until the next due time or a wake-up."""
        wakeup = self._holding.wakeup
        while True:
            due = self._holding.next_due()
            delay = MAX_TIMER_SLEEP if due is None else due - self._clock.now()
            if delay > 0:
                wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), min(delay, MAX_TIMER_SLEEP))
                continue
            try:
                released = await self.release_due()
                if released and self._on_release is not None:
                    self._on_release(released)
            except Exception:  # the timer must outlive a failing callback
                log.exception("releasing held messages failed")
                await asyncio.sleep(MAX_TIMER_SLEEP)

    # -- outcomes ----------------------------------------------------------

    def _forward(self, policy: PolicyView, env: Envelope, recipient: str, key: Hashable,
                 group: str, now: float) -> Outcome:
        if self._sensors is not None:
            self._sensors.observe_delivered(env, recipient, group, now)
        self._stats.forwarded()
        return self._stamp.forward(policy, env, recipient, key)

    def _queue_full(self, policy: PolicyView, held: HeldMessage) -> Outcome:
        if held.chain is not None:
            held.chain.observe(held.env, held.recipient, diverted=True)
        detail = (f"delay queue full ({self._holding.capacity} in total, "
                  f"{self._holding.per_flow_capacity} per pair)")
        return self._divert(policy, held.env, held.recipient, held.origin,
                            Divert(DELAY_QUEUE_FULL, detail), held.filter)

    def _divert(self, policy: PolicyView, env: Envelope, recipient: str, key: Hashable,
                verdict: Divert, filter_name: str | None) -> Outcome:
        return self._quarantine(policy, env, recipient, key, VERDICT_DIVERT, verdict.reason,
                                filter_name=filter_name, detail=verdict.detail)

    def _quarantine(self, policy: PolicyView, env: Envelope, recipient: str | None,
                    key: Hashable, verdict: str, reason: str, *, rule: str | None = None,
                    filter_name: str | None = None, detail: str = "") -> Outcome:
        self._stats.quarantined(reason)
        return self._stamp.quarantine(policy, env, recipient, key, verdict, reason, rule=rule,
                                      filter_name=filter_name, detail=detail)

    def quarantine_invalid(
        self,
        raw_headers: Sequence[tuple[str, bytes | None]],
        payload: bytes | None,
        key: bytes | None,
        sender: str,
        error: ProtocolError,
        origin: Hashable | None = None,
        *,
        msg_id: str | None = None,
    ) -> Outcome:
        """A whole-message quarantine copy of input that could not be decoded."""
        policy = self.policy
        self._stats.received(len(payload) if payload is not None else 0)
        self._stats.quarantined(error.reason)
        return invalid_outcome(policy, self.transport_name, raw_headers, payload, key, sender,
                               error, origin, msg_id)
