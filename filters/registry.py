"""The filter registry: name → (config type, factory). Explicit, no import magic.

``AnyFilterConfig`` is the tagged union the rules file decodes filter entries
into; add a filter by adding its config type to it and a row to ``REGISTRY``.
Every factory receives the clock, so every filter runs on injected time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

from bus.clock import Clock
from filters.base import Filter, FilterConfig
from filters.breaker import BreakerConfig, BreakerFilter
from filters.conformity import ConformityConfig, ConformityFilter
from filters.echo import EchoConfig, EchoFilter
from filters.homeostat import HomeostatConfig, HomeostatFilter
from filters.hops import HopsConfig, HopsFilter
from filters.pingpong import PingPongConfig, PingPongFilter
from filters.rate import RateConfig, RateFilter

FilterFactory = Callable[[Any, Clock], Filter]

REGISTRY: dict[str, tuple[type[FilterConfig], FilterFactory]] = {
    "rate": (RateConfig, RateFilter),
    "hops": (HopsConfig, lambda config, clock: HopsFilter(config)),
    "echo": (EchoConfig, EchoFilter),
    "pingpong": (PingPongConfig, PingPongFilter),
    "breaker": (BreakerConfig, BreakerFilter),
    "conformity": (ConformityConfig, ConformityFilter),
    "homeostat": (HomeostatConfig, HomeostatFilter),
}

AnyFilterConfig = Union[  # noqa: UP007 - msgspec decodes a tagged Union of Structs
    RateConfig,
    HopsConfig,
    EchoConfig,
    PingPongConfig,
    BreakerConfig,
    ConformityConfig,
    HomeostatConfig,
]


def build_filter(config: FilterConfig, clock: Clock) -> Filter:
    tag = str(type(config).__struct_config__.tag)
    _, factory = REGISTRY[tag]
    return factory(config, clock)
