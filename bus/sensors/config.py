"""Configuration of the group sensors (the ``sensors:`` section of a rules file).

Every field has a default, so an absent section means: categorical stances
from the ``membrane-stance`` header, one-second intervals, sixty-second
windows, per-agent metrics off. The caps bound the sensors' memory whatever
the traffic: at most ``max_groups`` groups (+1 overflow group named
``other``), each with at most ``max_agents_per_group`` agents and
``max_edges_per_group`` agent pairs. See docs/sensors.md.
"""

from __future__ import annotations

import math
import re
from typing import Literal

import msgspec

MAX_INTERVALS = 3_600
MAX_ESTEBAN_RAY_ALPHA = 1.6
MAX_LABEL_LENGTH = 64
_POINTER = re.compile(r"(/([^~/]|~[01])*)*")


def _is_json_pointer(text: str) -> bool:
    """RFC 6901 syntax: empty, or '/'-prefixed tokens where '~' escapes only 0 or 1."""
    return _POINTER.fullmatch(text) is not None


class PerAgentMetrics(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Per-agent Prometheus series: off by default, and capped when on.

    When ``enabled``, the ``top`` agents by message rate get a series of their
    own and every other agent of a group is summed into ``agent="other"``, so
    the number of series stays at most ``top`` + groups whatever the fleet.
    """

    enabled: bool = False
    top: int = 20

    def __post_init__(self) -> None:
        if not 1 <= self.top <= 1_000:
            raise ValueError("top must be between 1 and 1000")


class SensorsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Where a message's stance is read from and how long the sensor windows are.

    ``stance_header`` names the header carrying the stance; ``stance_pointer``
    (a JSON pointer such as ``/stance``) reads it from a JSON payload instead
    when the header is absent. ``stance_type`` is ``categorical`` (labels;
    ``stance_labels`` optionally fixes the set) or ``numeric`` (numbers in
    ``[stance_min, stance_max]``, snapped to multiples of
    ``stance_resolution`` above ``stance_min``, e.g. a 1-7 Likert scale).
    """

    stance_header: str = "membrane-stance"
    stance_pointer: str | None = None
    stance_type: Literal["categorical", "numeric"] = "categorical"
    stance_labels: tuple[str, ...] = ()
    stance_min: float | None = None
    stance_max: float | None = None
    stance_resolution: float = 1.0
    max_stances: int = 64
    window_seconds: float = 60.0
    interval_seconds: float = 1.0
    max_groups: int = 64
    max_agents_per_group: int = 10_000
    max_edges_per_group: int = 10_000
    idle_seconds: float = 3_600.0
    pingpong_min_run: int = 4
    polarisation_alpha: float = 1.0
    fanout_settle_seconds: float = 5.0
    per_agent: PerAgentMetrics = PerAgentMetrics()

    def __post_init__(self) -> None:
        self._check_stance()
        if self.window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        if self.interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        if self.window_seconds < 3 * self.interval_seconds:
            raise ValueError("window_seconds must span at least 3 intervals")
        if self.intervals > MAX_INTERVALS:
            raise ValueError(f"window_seconds / interval_seconds must be at most {MAX_INTERVALS}")
        for name in ("max_groups", "max_agents_per_group", "max_edges_per_group"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.idle_seconds <= 0 or self.fanout_settle_seconds <= 0:
            raise ValueError("idle_seconds and fanout_settle_seconds must be positive")
        if self.pingpong_min_run < 2:
            raise ValueError("pingpong_min_run must be at least 2")
        if not 0 <= self.polarisation_alpha <= MAX_ESTEBAN_RAY_ALPHA:
            raise ValueError(f"polarisation_alpha must be in [0, {MAX_ESTEBAN_RAY_ALPHA}]")

    def _check_stance(self) -> None:
        if not self.stance_header:
            raise ValueError("stance_header must not be empty")
        if self.stance_pointer is not None and not _is_json_pointer(self.stance_pointer):
            raise ValueError(
                "stance_pointer must be a JSON pointer: empty, or '/'-separated tokens "
                "starting with '/', with '~' only in '~0' or '~1'"
            )
        if not 2 <= self.max_stances <= 1_000:
            raise ValueError("max_stances must be between 2 and 1000")
        if len(set(self.stance_labels)) != len(self.stance_labels):
            raise ValueError("stance_labels lists a label twice")
        if any(not label.strip() or len(label) > MAX_LABEL_LENGTH for label in self.stance_labels):
            raise ValueError(f"stance_labels must be non-empty and at most {MAX_LABEL_LENGTH} "
                             "characters")
        if len(self.stance_labels) > self.max_stances:
            raise ValueError("stance_labels has more labels than max_stances")
        if self.stance_type == "categorical":
            if self.stance_min is not None or self.stance_max is not None:
                raise ValueError("stance_min/stance_max apply to numeric stances only")
            return
        if self.stance_labels:
            raise ValueError("stance_labels apply to categorical stances only")
        if self.stance_min is None or self.stance_max is None:
            raise ValueError("numeric stances need stance_min and stance_max")
        if not (math.isfinite(self.stance_min) and math.isfinite(self.stance_max)):
            raise ValueError("stance_min and stance_max must be finite")
        if self.stance_min >= self.stance_max:
            raise ValueError("stance_min must be below stance_max")
        if not (math.isfinite(self.stance_resolution) and self.stance_resolution > 0):
            raise ValueError("stance_resolution must be positive")
        if self.stance_levels > self.max_stances:
            raise ValueError(
                f"(stance_max - stance_min) / stance_resolution + 1 = {self.stance_levels} "
                f"levels exceeds max_stances ({self.max_stances})"
            )

    @property
    def intervals(self) -> int:
        """How many intervals one window holds (the ring-buffer length)."""
        return math.ceil(self.window_seconds / self.interval_seconds - 1e-9)

    @property
    def stance_levels(self) -> int:
        """How many values a numeric stance can take after snapping; 0 if categorical."""
        if self.stance_min is None or self.stance_max is None:
            return 0
        span = (self.stance_max - self.stance_min) / self.stance_resolution
        return math.floor(span + 1e-9) + 1

    @property
    def possible_stances(self) -> int | None:
        """K for normalised entropy when the stance set is known in advance."""
        if self.stance_type == "numeric":
            return self.stance_levels
        return len(self.stance_labels) or None
