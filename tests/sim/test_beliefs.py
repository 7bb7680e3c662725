"""The three-valued belief model: fusion, evidence, error, and the wire form."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.sim.beliefs import Belief, error, fuse, truth_from_bits

beliefs = st.text(alphabet="01?", min_size=8, max_size=8).map(Belief.decode)


@pytest.mark.parametrize(
    ("left", "right", "fused"),
    [
        ("1", "1", "1"),  # agreement kept
        ("0", "0", "0"),
        ("1", "0", "?"),  # conflict becomes unknown
        ("0", "1", "?"),
        ("1", "?", "1"),  # known + unknown becomes known
        ("?", "0", "0"),
        ("?", "?", "?"),
    ],
)
def test_fusion_truth_table(left: str, right: str, fused: str) -> None:
    assert fuse(Belief.decode(left), Belief.decode(right)).encode() == fused


def test_fusion_works_proposition_by_proposition() -> None:
    assert fuse(Belief.decode("10?1?"), Belief.decode("1?001")).encode() == "100?1"


@settings(max_examples=60, deadline=None)
@given(beliefs, beliefs)
def test_fusion_is_commutative_and_idempotent(a: Belief, b: Belief) -> None:
    assert fuse(a, b) == fuse(b, a)
    assert fuse(a, a) == a


@settings(max_examples=60, deadline=None)
@given(beliefs)
def test_encoding_round_trips(belief: Belief) -> None:
    assert Belief.decode(belief.encode()) == belief


def test_error_costs_wrong_one_and_unknown_half() -> None:
    truth = Belief.decode("1100")
    assert error(truth, truth) == 0.0
    assert error(Belief.unknown(4), truth) == 0.5
    assert error(Belief.decode("0011"), truth) == 1.0
    assert error(Belief.decode("10??"), truth) == pytest.approx((1 + 0.5 + 0.5) / 4)


def test_evidence_decides_an_unknown_proposition() -> None:
    belief = Belief.unknown(3).with_evidence(1, True).with_evidence(2, False)
    assert belief.encode() == "?10"
    assert belief.state(0) is None and belief.state(1) is True and belief.state(2) is False
    assert belief.unknown_indices() == [0]


def test_evidence_against_a_belief_makes_it_unknown() -> None:
    assert Belief.decode("1").with_evidence(0, False).encode() == "?"


def test_truth_is_fully_decided() -> None:
    truth = truth_from_bits(4, 0b0101)
    assert truth.encode() == "1010"


@pytest.mark.parametrize("bad", ["10x", ""])
def test_bad_beliefs_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        Belief.decode(bad)


def test_fusing_different_sizes_is_an_error() -> None:
    with pytest.raises(ValueError, match="cannot fuse"):
        fuse(Belief.unknown(2), Belief.unknown(3))
