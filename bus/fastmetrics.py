"""Metric updates cheap enough for the per-message path.

prometheus_client guards every value with a mutex and validates on every
call: an ``inc()`` costs about 0.4 µs and a histogram ``observe()`` about
1.5 µs, which at ~20 updates per message was the largest single cost of the
relay. Membrane updates its hot series from one thread (the event loop), so
the values need no lock. These helpers swap a child's value objects for
``PlainValue`` — a float in a slot — and hand that object to the hot path,
which increments ``.value`` directly. The series, their names and labels
stay exactly as they are: a scrape (or a test reading ``._value.get()``)
reads the same numbers through ``get()``.

``PlainHistogram`` does the same for a histogram child (bucket found by
bisection). Timing itself costs two clock reads, so the callers time very
frequent calls (each filter, each decision) on one call in N: such a
histogram counts the timed calls, and its quantiles estimate those of all.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from prometheus_client import Counter, Histogram


class PlainValue:
    """A metric value without a lock (see the module docstring)."""

    __slots__ = ("_exemplar", "value")

    def __init__(self, value: float = 0.0) -> None:
        self.value = value
        self._exemplar: Any = None

    def inc(self, amount: float) -> None:
        self.value += amount

    def set(self, value: float, timestamp: float | None = None) -> None:
        self.value = value

    def get(self) -> float:
        return self.value

    def set_exemplar(self, exemplar: Any) -> None:
        self._exemplar = exemplar

    def get_exemplar(self) -> Any:
        return self._exemplar


def _plain(holder: Any, attribute: str) -> PlainValue:
    current = getattr(holder, attribute)
    if isinstance(current, PlainValue):
        return current  # another user of the same child swapped it already
    plain = PlainValue(current.get())
    setattr(holder, attribute, plain)
    return plain


def plain_counter(child: Counter) -> PlainValue:
    """The lock-free value behind a counter child (``child.labels(...)`` result)."""
    return _plain(child, "_value")


class PlainHistogram:
    """Lock-free ``observe`` for one histogram child."""

    __slots__ = ("_bounds", "_buckets", "_sum")

    def __init__(self, child: Histogram) -> None:
        self._bounds: list[float] = list(child._upper_bounds)
        self._buckets = _swap_buckets(child._buckets)
        self._sum = _plain(child, "_sum")

    def observe(self, amount: float) -> None:
        self._buckets[bisect_left(self._bounds, amount)].value += 1
        self._sum.value += amount


def _swap_buckets(buckets: list[Any]) -> list[PlainValue]:
    for i, value in enumerate(buckets):
        if not isinstance(value, PlainValue):
            buckets[i] = PlainValue(value.get())
    return buckets
