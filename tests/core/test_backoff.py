"""Backoff: exponential growth up to a cap, full jitter, reset after success."""

from __future__ import annotations

import pytest

from bus.backoff import Backoff


def test_backoff_grows_exponentially_up_to_the_cap_and_resets() -> None:
    backoff = Backoff(base=0.5, cap=4.0, rand=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.attempt == 0
    assert backoff.next_delay() == 0.5


def test_backoff_jitter_spreads_delays_over_the_whole_window() -> None:
    draws = iter([0.0, 0.25, 0.999])
    backoff = Backoff(base=1.0, cap=1.0, rand=lambda: next(draws))
    assert [backoff.next_delay() for _ in range(3)] == [0.0, 0.25, 0.999]


def test_backoff_rejects_nonsense_bounds() -> None:
    with pytest.raises(ValueError, match="base <= cap"):
        Backoff(base=2.0, cap=1.0)
