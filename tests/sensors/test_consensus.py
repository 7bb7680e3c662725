"""Consensus, modal share and Esteban-Ray polarisation against hand computation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.sensors.consensus import StanceTally, esteban_ray, strict_mode


def tally_of(counts: dict[str, int], **options: object) -> StanceTally:
    tally = StanceTally(capacity=64, **options)  # type: ignore[arg-type]
    for label, count in counts.items():
        for _ in range(count):
            value = float(label) if label.isdigit() else math.nan
            tally.add(label, value)
    return tally


def test_three_to_one_split() -> None:
    tally = tally_of({"A": 3, "B": 1})
    assert tally.modal_share() == 0.75
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))  # 0.5623 nats
    assert tally.consensus() == pytest.approx(1 - h / math.log(2))  # 0.1887
    assert tally.consensus() == pytest.approx(0.18872, abs=1e-5)
    assert tally.majority() == "A"


def test_k_is_the_number_of_possible_stances_when_known() -> None:
    tally = tally_of({"A": 1, "B": 1}, possible=4)
    assert tally.consensus() == pytest.approx(1 - math.log(2) / math.log(4))  # 0.5


def test_unanimity_and_empty_edges() -> None:
    assert tally_of({"A": 5}).consensus() == 1.0
    assert tally_of({"A": 5}, possible=7).consensus() == 1.0
    empty = tally_of({})
    assert empty.consensus() is None and empty.modal_share() is None
    assert empty.majority() is None


def test_a_tie_has_no_majority() -> None:
    assert strict_mode({"A": 2, "B": 2}) is None
    assert strict_mode({"A": 2, "B": 3, "C": 3}) is None
    assert strict_mode({"A": 2, "B": 3, "C": 1}) == "B"


def test_removing_members_updates_the_tally() -> None:
    tally = tally_of({"A": 3, "B": 1})
    tally.remove("A")
    tally.remove("A")
    assert tally.majority() is None  # 1 A, 1 B
    assert tally.modal_share() == 0.5
    tally.remove("B")
    assert tally.counts == {"A": 1}
    assert tally.consensus() == 1.0


def likert(counts: dict[str, int], alpha: float = 1.0) -> StanceTally:
    return tally_of(counts, possible=7, alpha=alpha, span=6.0)


def test_two_equal_camps_at_the_ends_are_fully_polarised() -> None:
    # P = 2 * 0.5^2 * 0.5 * 6 = 1.5, the maximum 0.5^2 * 6 = 1.5
    assert likert({"1": 2, "7": 2}).polarisation() == pytest.approx(1.0)


def test_a_three_to_one_split_at_the_ends() -> None:
    # P = 0.75^2 * 0.25 * 6 + 0.25^2 * 0.75 * 6 = 1.125; / 1.5
    assert likert({"1": 3, "7": 1}).polarisation() == pytest.approx(0.75)


def test_three_equal_camps_are_less_polarised_than_two() -> None:
    # P = (1/3)^2 * (1/3) * [(3 + 6) + (3 + 3) + (6 + 3)] = 24/27; / 1.5
    assert likert({"1": 1, "4": 1, "7": 1}).polarisation() == pytest.approx(24 / 27 / 1.5)


def test_agreement_is_not_polarised_and_categories_have_no_polarisation() -> None:
    assert likert({"4": 5}).polarisation() == 0.0
    assert tally_of({"A": 1, "B": 1}).polarisation() is None


def brute_esteban_ray(shares: list[tuple[float, float]], alpha: float) -> float:
    return sum(
        pi ** (1 + alpha) * pj * abs(yi - yj) for yi, pi in shares for yj, pj in shares
    )


@settings(max_examples=120, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=30),
    st.sampled_from([0.0, 0.5, 1.0, 1.3, 1.6]),
)
def test_prefix_sum_esteban_ray_equals_the_double_sum_and_stays_normalised(
    stances: list[int], alpha: float
) -> None:
    counts: dict[str, int] = {}
    for stance in stances:
        counts[str(stance + 1)] = counts.get(str(stance + 1), 0) + 1
    n = len(stances)
    shares = sorted((float(label), count / n) for label, count in counts.items())
    assert esteban_ray(shares, alpha) == pytest.approx(brute_esteban_ray(shares, alpha))
    polarisation = likert(counts, alpha).polarisation()
    assert polarisation is not None
    assert 0.0 <= polarisation <= 1.0
    assert brute_esteban_ray(shares, alpha) / (0.5 ** (1 + alpha) * 6) <= 1.0 + 1e-9
