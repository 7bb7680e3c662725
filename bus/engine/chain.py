"""The chain runner: runs a recipient's filters in order and acts on their verdicts.

Filters only return verdicts; this is where they take effect:

- ``Forward`` goes on to the next filter; after the last one the message is
  forwarded.
- ``Rewrite`` replaces the envelope with a rewritten copy (the original is
  shared with other recipients) and goes on.
- ``Delay`` stops the chain; the caller holds the message and, when it is
  released, calls ``run`` again with ``start=outcome.resume``. The resume
  index is the next filter, or the same one for filters that re-check
  (``filters.base.rechecks_after_delay``). A delay is waived when an earlier
  filter marked the message protected (``FilterContext.protected``).
- ``Divert`` stops the chain; the caller quarantines the message.

A filter in ``shadow`` mode runs and is counted (``mode="shadow"``) but its
verdict never changes the outcome. Each call to a filter is bounded by its
``timeout``; a timeout or an exception follows its ``on_error`` policy:
``open`` lets the message through, ``closed`` diverts it with reason
``filter-error``. Filters that never wait (``filters.base.DecidesNow``, every
built-in one) are called as plain methods, with no coroutine and no timer.
Metrics children are resolved once per filter, when the chain is built, and
bumped as lock-free values (``bus.fastmetrics``); a filter's duration is
timed on one call in ``DURATION_SAMPLE_EVERY``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Generator, Sequence
from typing import Any

from bus.clock import Clock
from bus.engine.rewrite import apply_rewrite
from bus.envelope import Envelope
from bus.fastmetrics import PlainHistogram, PlainValue, plain_counter
from bus.metrics import Metrics
from bus.verdict import FORWARD, Delay, Divert, Forward, Rewrite, Verdict
from filters.base import (
    DecidesNow,
    Filter,
    FilterContext,
    ObservesOutcomes,
    rechecks_after_delay,
)

log = logging.getLogger(__name__)

FILTER_ERROR = "filter-error"
VERDICT_NAMES = ("forward", "delay", "divert", "rewrite")
EXEMPT_MODE = "exempt"  # a Delay waived because the message is protected
LOGGED_FAILURES = frozenset({1, 2, 3})
LOG_EVERY_NTH_FAILURE = 1_000
DURATION_SAMPLE_EVERY = 16


class ChainOutcome:
    """What the chain decided for one (message, recipient).

    ``verdict`` is ``FORWARD``, a ``Delay`` or a ``Divert``; ``filter`` names
    the filter that delayed or diverted (None when forwarded); ``resume`` is
    the index to pass as ``start`` after a delay; ``env`` is the envelope to
    deliver or hold (a copy when a filter rewrote it). ``shadowed`` names the
    first shadow-mode filter that would have delayed or diverted, if any.
    """

    __slots__ = ("env", "filter", "resume", "shadowed", "verdict")

    def __init__(
        self,
        verdict: Forward | Delay | Divert,
        filter: str | None,
        resume: int,
        env: Envelope,
        shadowed: str | None = None,
    ) -> None:
        self.verdict = verdict
        self.filter = filter
        self.resume = resume
        self.env = env
        self.shadowed = shadowed

    def __repr__(self) -> str:
        return (
            f"ChainOutcome({self.verdict!r}, filter={self.filter!r}, resume={self.resume}, "
            f"shadowed={self.shadowed!r})"
        )


class _Resumed:
    """Awaits the rest of a coroutine whose first step was already taken.

    ``pending`` is what that step yielded (the future it waits on); it is
    handed to the running task, and cancellation (the time bound) is passed
    on to the coroutine, exactly as if the task had stepped it itself.
    """

    __slots__ = ("_coro", "_pending")

    def __init__(self, coro: Coroutine[Any, Any, Verdict], pending: Any) -> None:
        self._coro = coro
        self._pending = pending

    def __await__(self) -> Generator[Any, None, Verdict]:
        coro, pending = self._coro, self._pending
        while True:
            try:
                yield pending
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # e.g. CancelledError from the time bound
                try:
                    pending = coro.throw(exc)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
                continue
            try:
                pending = coro.send(None)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]


class _Stage:
    """One filter in a chain, with everything resolved that does not change per message."""

    __slots__ = (
        "duration",
        "errors",
        "exempt",
        "fail_closed",
        "failures",
        "filter",
        "forwarded",
        "name",
        "now",
        "recheck",
        "shadow",
        "timeout",
        "untimed",
        "verdicts",
    )

    def __init__(self, flt: Filter, metrics: Metrics | None) -> None:
        config = flt.config
        self.filter = flt
        self.name = config.instance_name
        self.shadow = config.mode == "shadow"
        self.fail_closed = config.on_error == "closed"
        self.timeout = config.timeout
        self.recheck = rechecks_after_delay(flt)
        self.now: Callable[[Envelope, str, FilterContext], Verdict] | None = (
            flt.decide_now if isinstance(flt, DecidesNow) else None)
        self.failures = 0
        self.untimed = 0
        self.verdicts: dict[str, PlainValue] | None = None
        self.forwarded: PlainValue | None = None
        self.exempt: PlainValue | None = None
        self.duration: PlainHistogram | None = None
        self.errors: PlainValue | None = None
        if metrics is not None:
            verdicts = metrics.filter_verdicts
            self.verdicts = {
                v: plain_counter(verdicts.labels(self.name, v, config.mode)) for v in VERDICT_NAMES
            }
            self.forwarded = self.verdicts[FORWARD.name]
            self.exempt = plain_counter(verdicts.labels(self.name, "delay", EXEMPT_MODE))
            self.duration = PlainHistogram(metrics.filter_seconds.labels(self.name))
            self.errors = plain_counter(metrics.filter_errors.labels(self.name, config.on_error))

    async def decide(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict:
        timed = self.duration is not None and not self.untimed
        if timed:
            self.untimed = DURATION_SAMPLE_EVERY - 1
            started = time.perf_counter()
        elif self.untimed:
            self.untimed -= 1
        try:
            # Take the first step by hand: a filter that returns without awaiting
            # (nearly all of them) cannot be interrupted anyway, so the timer is
            # armed only for one that really waits on something.
            coro = self.filter.decide(env, recipient, ctx)
            try:
                pending = coro.send(None)
            except StopIteration as done:
                verdict = done.value
            else:
                async with asyncio.timeout(self.timeout):
                    verdict = await _Resumed(coro, pending)
            if not isinstance(verdict, Forward | Delay | Divert | Rewrite):
                raise TypeError(f"decide() returned {verdict!r}, not a verdict")
        except Exception as exc:  # every failure of a filter is handled by its policy
            verdict = self.failed(exc)
        if timed and self.duration is not None:
            self.duration.observe(time.perf_counter() - started)
        return verdict

    def decide_now(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict:
        """``decide`` for a filter that never waits: a plain call, no coroutine."""
        assert self.now is not None
        if self.untimed:
            self.untimed -= 1
            started = 0.0
        elif self.duration is not None:
            self.untimed = DURATION_SAMPLE_EVERY - 1
            started = time.perf_counter()
        else:
            started = 0.0
        try:
            verdict = self.now(env, recipient, ctx)
            if verdict is not FORWARD and not isinstance(verdict, Delay | Divert | Rewrite):
                raise TypeError(f"decide() returned {verdict!r}, not a verdict")
        except Exception as exc:  # every failure of a filter is handled by its policy
            verdict = self.failed(exc)
        if started and self.duration is not None:
            self.duration.observe(time.perf_counter() - started)
        return verdict

    def failed(self, exc: BaseException) -> Verdict:
        if self.errors is not None:
            self.errors.value += 1
        what = "timed out" if isinstance(exc, TimeoutError) else f"failed: {exc!r}"
        self.failures += 1
        if self.failures in LOGGED_FAILURES or self.failures % LOG_EVERY_NTH_FAILURE == 0:
            # A broken filter fails on every message; the counter has them all.
            log.warning("filter %s %s (on_error=%s, %d failures so far)", self.name, what,
                        "closed" if self.fail_closed else "open", self.failures)
        if self.fail_closed:
            return Divert(FILTER_ERROR, f"filter {self.name} {what}")
        return FORWARD


class ChainRunner:
    """Runs one chain of filter instances; cheap to build, safe to share."""

    __slots__ = ("_clock", "_observers", "_stages", "filters")

    def __init__(
        self, filters: Sequence[Filter], *, metrics: Metrics | None, clock: Clock
    ) -> None:
        self.filters = tuple(filters)
        self._clock = clock
        self._stages = tuple(_Stage(f, metrics) for f in self.filters)
        self._observers = tuple(f for f in self.filters if isinstance(f, ObservesOutcomes))

    def __len__(self) -> int:
        return len(self._stages)

    async def run(
        self, env: Envelope, recipient: str, ctx: FilterContext, start: int = 0
    ) -> ChainOutcome:
        """Run the filters from index ``start`` for ``env`` on its way to ``recipient``."""
        ctx.protected = False
        current = env
        shadowed: str | None = None
        stages = self._stages
        for index in range(start, len(stages)):
            stage = stages[index]
            protected = ctx.protected
            if stage.now is not None:
                verdict = stage.decide_now(current, recipient, ctx)
            else:
                verdict = await stage.decide(current, recipient, ctx)
            if verdict is FORWARD:  # the common case, first
                if stage.forwarded is not None:
                    stage.forwarded.value += 1
                if stage.shadow:
                    ctx.protected = protected
                continue
            if stage.verdicts is not None:
                stage.verdicts[verdict.name].value += 1
            if stage.shadow:
                ctx.protected = protected  # a shadow filter cannot protect either
                if shadowed is None and isinstance(verdict, Delay | Divert):
                    shadowed = stage.name
                continue
            if isinstance(verdict, Forward):
                continue
            if isinstance(verdict, Rewrite):
                try:
                    current = apply_rewrite(current, verdict)
                except ValueError as exc:
                    failure = stage.failed(exc)
                    if isinstance(failure, Divert):
                        return self._divert(failure, stage.name, index, current, recipient)
                continue
            if isinstance(verdict, Delay):
                if ctx.protected or verdict.seconds <= 0:
                    if ctx.protected and stage.exempt is not None:
                        stage.exempt.value += 1
                    continue
                resume = index if stage.recheck else index + 1
                return ChainOutcome(verdict, stage.name, resume, current, shadowed)
            return self._divert(verdict, stage.name, index, current, recipient, shadowed)
        self.observe(current, recipient, diverted=False)
        return ChainOutcome(FORWARD, None, len(stages), current, shadowed)

    def observe(self, env: Envelope, recipient: str, *, diverted: bool) -> None:
        """Tell the filters that learn from outcomes what happened to a message.

        ``run`` calls this itself when the chain forwards or diverts. The
        engine calls it with ``diverted=True`` when it quarantines a message
        after the chain let it through or held it (e.g. ``delay-queue-full``).
        """
        if not self._observers:
            return
        now = self._clock.now()
        for observer in self._observers:
            try:
                observer.observe_outcome(env, recipient, diverted, now)
            except Exception:  # a learning hook must never lose the message
                log.exception("observe_outcome failed in %r", observer)

    def _divert(
        self,
        verdict: Divert,
        name: str,
        index: int,
        env: Envelope,
        recipient: str,
        shadowed: str | None = None,
    ) -> ChainOutcome:
        self.observe(env, recipient, diverted=True)
        return ChainOutcome(verdict, name, index, env, shadowed)
