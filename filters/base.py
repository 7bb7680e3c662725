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

from typing import Literal, Protocol

import msgspec

from bus.clock import Clock
from bus.envelope import Envelope
from bus.verdict import Verdict

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
    """

    __slots__ = ("clock", "group", "group_size", "sensors")

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


class Filter(Protocol):
    """A damping filter. ``config`` is the Struct it was built from."""

    @property
    def config(self) -> FilterConfig: ...

    async def decide(self, env: Envelope, recipient: str, ctx: FilterContext) -> Verdict: ...
