"""Three-valued beliefs over n propositions, as two bit masks.

Each proposition is believed true, believed false, or unknown. A belief is
stored as ``known`` (bit i set: proposition i is decided) and ``value``
(bit i: what was decided; zero wherever ``known`` is clear), so fusing two
beliefs over a hundred propositions is a handful of integer operations.

Fusion is the three-valued operator of Crosscombe and Lawry's collective
learning model, applied proposition by proposition:

- both decided and agreeing: kept;
- both decided and disagreeing: unknown;
- one decided, the other unknown: the decided value.

Error against the true state is the normalised distance: a wrong decided
proposition costs 1, an unknown one 1/2, a right one 0, divided by n.
"""

from __future__ import annotations

TRUE_CHAR = "1"
FALSE_CHAR = "0"
UNKNOWN_CHAR = "?"


class Belief:
    """An immutable three-valued belief over ``size`` propositions."""

    __slots__ = ("known", "size", "value")

    def __init__(self, size: int, known: int = 0, value: int = 0) -> None:
        if size < 1:
            raise ValueError("a belief needs at least one proposition")
        full = (1 << size) - 1
        if known & ~full or value & ~known:
            raise ValueError("value bits must lie within the known bits and the size")
        self.size = size
        self.known = known
        self.value = value

    @classmethod
    def unknown(cls, size: int) -> Belief:
        return cls(size)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Belief) and (self.size, self.known, self.value) == (
            other.size,
            other.known,
            other.value,
        )

    def __hash__(self) -> int:
        return hash((self.size, self.known, self.value))

    def __repr__(self) -> str:
        return f"Belief({self.encode()!r})"

    def state(self, index: int) -> bool | None:
        """True, False, or None when proposition ``index`` is unknown."""
        bit = 1 << index
        if not self.known & bit:
            return None
        return bool(self.value & bit)

    def unknown_indices(self) -> list[int]:
        return [i for i in range(self.size) if not (self.known >> i) & 1]

    def with_evidence(self, index: int, observed: bool) -> Belief:
        """The belief after directly observing proposition ``index`` as ``observed``.

        Evidence is itself a belief that decides one proposition, fused in;
        an agent only seeks evidence about what it does not know, so in
        practice this decides an unknown proposition.
        """
        if not 0 <= index < self.size:
            raise ValueError(f"proposition {index} is outside 0..{self.size - 1}")
        bit = 1 << index
        return fuse(self, Belief(self.size, bit, bit if observed else 0))

    def encode(self) -> str:
        """One character per proposition: ``1`` true, ``0`` false, ``?`` unknown."""
        chars = []
        for i in range(self.size):
            bit = 1 << i
            if not self.known & bit:
                chars.append(UNKNOWN_CHAR)
            else:
                chars.append(TRUE_CHAR if self.value & bit else FALSE_CHAR)
        return "".join(chars)

    @classmethod
    def decode(cls, text: str) -> Belief:
        known = value = 0
        for i, char in enumerate(text):
            bit = 1 << i
            if char == TRUE_CHAR:
                known |= bit
                value |= bit
            elif char == FALSE_CHAR:
                known |= bit
            elif char != UNKNOWN_CHAR:
                raise ValueError(f"belief character {i} is {char!r}, expected 0, 1 or ?")
        return cls(len(text), known, value)


def fuse(a: Belief, b: Belief) -> Belief:
    """The three-valued fusion of two beliefs over the same propositions."""
    if a.size != b.size:
        raise ValueError(f"cannot fuse beliefs over {a.size} and {b.size} propositions")
    conflict = a.known & b.known & (a.value ^ b.value)
    known = (a.known | b.known) & ~conflict
    value = (a.value | b.value) & known
    return Belief(a.size, known, value)


def truth_from_bits(size: int, bits: int) -> Belief:
    """The true state of the world as a fully decided belief."""
    full = (1 << size) - 1
    return Belief(size, full, bits & full)


def error(belief: Belief, truth: Belief) -> float:
    """Normalised distance to the truth: wrong costs 1, unknown 1/2, right 0."""
    if belief.size != truth.size:
        raise ValueError("belief and truth cover different propositions")
    wrong = (belief.known & (belief.value ^ truth.value)).bit_count()
    unknown = belief.size - belief.known.bit_count()
    return (wrong + unknown / 2) / belief.size
