"""The filter registry: name → (config type, factory). Explicit, no import magic.

``AnyFilterConfig`` is the tagged union the rules file decodes filter entries
into; add a filter by adding its config type to it and a row to ``REGISTRY``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

from bus.clock import Clock
from filters.base import Filter, FilterConfig
from filters.hops import HopsConfig, HopsFilter

FilterFactory = Callable[[Any, Clock], Filter]

REGISTRY: dict[str, tuple[type[FilterConfig], FilterFactory]] = {
    "hops": (HopsConfig, lambda config, clock: HopsFilter(config)),
}

AnyFilterConfig = Union[HopsConfig]  # noqa: UP007 - grows into a union of every filter


def build_filter(config: FilterConfig, clock: Clock) -> Filter:
    tag = str(type(config).__struct_config__.tag)
    _, factory = REGISTRY[tag]
    return factory(config, clock)
