"""The filter contract.

A filter is configured by a frozen msgspec Struct tagged with the filter's
name (``filter: rate`` in a rules file) and built by the factory registered
for that name in ``filters.registry``. It has one async method, ``decide``,
which looks at one envelope on its way to one recipient and returns a
verdict. Filters never do I/O and never forward anything themselves; the
chain runner in ``bus.engine.chain`` applies their verdicts, bounds their
time, applies their error policy, and counts what they do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import msgspec

from bus.clock import Clock
from bus.envelope import Envelope
from bus.verdict import Verdict

if TYPE_CHECKING:
    from bus.metrics import Metrics

Mode = Literal["enforce", "shadow"]
ErrorPolicy = Literal["open", "closed"]


class Attach(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Where a filter applies. Empty everywhere means globally.

    ``groups`` match when the sender or the recipient belongs to one of them;
    ``edges`` are ``"from->to"`` strings of agent ids, group names or patterns.
    """

    groups: tuple[str, ...] = ()
    edges: tuple[str, ...] = ()

    @property
    def is_global(self) -> bool:
        return not self.groups and not self.edges


class FilterConfig(
    msgspec.Struct,
    frozen=True,
    forbid_unknown_fields=True,
    kw_only=True,
    tag_field="filter",
):
    """Fields every filter accepts, whatever its kind."""

    name: str | None = None
    mode: Mode = "enforce"
    on_error: ErrorPolicy = "open"
    timeout: float = 0.05
    attach: Attach = Attach()

    def __post_init__(self) -> None:
        if not 0 < self.timeout <= 10:
            raise ValueError("timeout must be in (0, 10] seconds")

    @property
    def instance_name(self) -> str:
        """The name used in metrics and quarantine headers."""
        tag = type(self).__struct_config__.tag
        return self.name or str(tag)


class SensorView(Protocol):
    """Read-only access to the sensors' current values for one group.

    Keys are sensor names as documented in docs/sensors.md (``consensus``,
    ``conformity_rate``, ``oscillation_index``, ``message_rate`` ...). A sensor
    with no data yet returns ``default``.
    """

    def value(self, group: str, sensor: str, default: float = 0.0) -> float: ...

    def majority_stance(self, group: str) -> str | None: ...


class NoSensors:
    """A SensorView for contexts without sensors (tests, the no-op relay)."""

    __slots__ = ()

    def value(self, group: str, sensor: str, default: float = 0.0) -> float:
        return default

    def majority_stance(self, group: str) -> str | None:
        return None


class FilterContext:
    """What a filter may consult besides the envelope itself.

    ``group`` is the interaction group of this (sender, recipient) pair as the
    policy resolves it; ``group_size`` the number of members it has.
    ``protected`` is set by a filter (the conformity damper's dissent
    protection) to exempt this message from the ``Delay`` verdicts of the
    filters after it in the chain; the chain runner clears it on every run.
    """

    __slots__ = ("clock", "group", "group_size", "protected", "sensors")

    def __init__(
        self,
        *,
        clock: Clock,
        sensors: SensorView | None = None,
        group: str = "default",
        group_size: int = 1,
    ) -> None:
        self.clock = clock
        self.sensors: SensorView = sensors if sensors is not None else NoSensors()
        self.group = group
        self.group_size = group_size
        self.protected = False


class Filter(Protocol):
    """A damping filter. ``config`` is the Struct it was built from."""

    @property
    def config(self) -> FilterConfig: ...

    async def decide(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict: ...


# Optional capabilities. A filter implements them by having the method or
# attribute; the chain runner and the filter set discover them once, when the
# chain is built, never per message.


@runtime_checkable
class ObservesOutcomes(Protocol):
    """A filter that learns from what finally happened to a message.

    The chain runner calls ``observe_outcome`` once per (message, recipient)
    when the chain reaches its final outcome: ``diverted`` is False when the
    message went on to the recipient, True when any filter (or the engine,
    e.g. a full delay queue) quarantined it. Delays are not outcomes: a held
    message is reported when it is finally forwarded or diverted. The circuit
    breaker counts diverts this way; the echo filter learns what each agent
    received. Must be O(1) and must not raise.
    """

    def observe_outcome(self, env: Envelope, recipient: str, diverted: bool, now: float) -> None:
        ...


@runtime_checkable
class ExportsMetrics(Protocol):
    """A filter with gauges of its own (the homeostat). ``bind_metrics`` is
    called once, after construction, when the process has a ``Metrics``; the
    filter only sets in-memory values, scraping happens elsewhere."""

    def bind_metrics(self, metrics: Metrics) -> None: ...


@runtime_checkable
class DecidesNow(Protocol):
    """A filter whose decision never waits on anything (every built-in one).

    ``decide_now`` is ``decide`` as a plain method, and ``decide`` must return
    what it returns. The chain runner calls ``decide_now`` directly: no
    coroutine to create and step per filter and message, and no time bound
    to arm, since nothing can stall. Errors follow ``on_error`` as usual.
    """

    def decide_now(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict: ...


def rechecks_after_delay(flt: object) -> bool:
    """Whether a message this filter delayed runs through it again on release.

    Most filters decide a delay once (the rate filter reserves the slot it
    delays to), so the chain resumes after them. A filter that holds a message
    until a condition holds (the conformity damper's sequester) sets the class
    attribute ``recheck_after_delay = True`` and is asked again each time.
    """
    return bool(getattr(flt, "recheck_after_delay", False))
