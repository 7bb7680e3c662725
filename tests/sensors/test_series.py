"""The rate series' running sums against hand-computed values and a brute force."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.sensors.series import RateSeries
from bus.sensors.window import WindowCounts


def series_of(values: list[int], length: int) -> RateSeries:
    series = RateSeries(length)
    for value in values:
        series.push(value)
    return series


def brute_autocorrelation(xs: list[int]) -> float | None:
    n = len(xs)
    if n < 3:
        return None
    m = sum(xs) / n
    variance = sum((x - m) ** 2 for x in xs)
    if variance == 0:
        return None
    return sum((xs[t] - m) * (xs[t - 1] - m) for t in range(1, n)) / variance


def brute_crossings(xs: list[int]) -> float | None:
    if len(xs) < 3:
        return None
    d = [b - a for a, b in pairwise(xs)]
    return sum(1 for a, b in pairwise(d) if a * b < 0) / (len(xs) - 2)


def test_a_period_two_oscillation_is_strongly_anticorrelated_and_always_crossing() -> None:
    series = series_of([2, 0, 2, 0, 2, 0], length=6)
    # m = 1; deviations +-1; sum of squares 6; five adjacent products of -1.
    assert series.autocorrelation() == pytest.approx(-5 / 6)
    # differences -2, 2, -2, 2, -2: four sign changes out of four pairs.
    assert series.zero_crossing_rate() == 1.0
    assert series.mean() == 1.0


def test_a_ramp_is_positively_correlated_and_never_crosses() -> None:
    series = series_of([1, 2, 3, 4, 5, 6], length=6)
    # m = 3.5; sum of squared deviations 17.5; adjacent products sum 8.75.
    assert series.autocorrelation() == pytest.approx(0.5)
    assert series.zero_crossing_rate() == 0.0


def test_the_window_slides_dropping_the_oldest_sample() -> None:
    series = series_of([9, 9, 9, 1, 2, 3, 4, 5, 6], length=6)
    assert series.values() == [1, 2, 3, 4, 5, 6]
    assert series.autocorrelation() == pytest.approx(0.5)
    assert series.zero_crossing_rate() == 0.0


def test_undefined_cases_return_none() -> None:
    assert series_of([5, 1], length=6).autocorrelation() is None
    assert series_of([5, 1], length=6).zero_crossing_rate() is None
    assert series_of([3, 3, 3, 3], length=6).autocorrelation() is None  # no variance
    assert series_of([], length=6).mean() is None


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=50), max_size=40),
       st.integers(min_value=3, max_value=12))
def test_running_sums_match_a_brute_force_over_the_window(values: list[int], length: int) -> None:
    series = series_of(values, length)
    window = values[-length:]
    assert series.values() == window
    expected = brute_autocorrelation(window)
    found = series.autocorrelation()
    assert (found is None) == (expected is None)
    if expected is not None and found is not None:
        assert found == pytest.approx(expected)
    assert series.zero_crossing_rate() == brute_crossings(window)


def test_window_counts_expire_whole_intervals() -> None:
    window = WindowCounts(length=3, fields=2)
    window.add(0, 5)
    window.rotate(1)
    window.add(0)
    window.add(1, 2)
    assert window.totals == [6, 2]
    window.rotate(2)  # the first interval falls out
    assert window.totals == [1, 2]
    assert window.current(0) == 0
    window.rotate(1_000_000)  # a long silence clears everything, in O(length)
    assert window.totals == [0, 0]
