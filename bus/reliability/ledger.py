"""The ledger: every numbered input and every output seen, reconciled.

Each input message carries a plain client header (``ledger-seq``) with its
number. Membrane passes non-``membrane-*`` headers through on forwards and
on quarantine copies alike, so every output names the input it came from.
An output fills a *slot* of its input: the recipient it was delivered to,
the recipient it was refused for, or ``""`` when the whole message was
quarantined (undecodable, nobody to deliver to).

Reconciling answers: how many inputs (acknowledged by the broker to the
producer), how many outputs expected, delivered, quarantined, lost (an
expected slot never seen), duplicated (a slot seen more than once),
conflicting (one slot both delivered and quarantined) and unexpected (slots
beyond what the input should produce, or outputs of inputs never
acknowledged). ``input = delivered + quarantined`` holds when nothing is
lost, conflicting or unexpected.

Memory is O(outputs); expectations may arrive before or after the outputs
(a broker acknowledgement can be slower than the relay).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Final

LEDGER_HEADER: Final = "ledger-seq"
WHOLE: Final = ""  # the slot of a whole-message quarantine copy

_FORWARDED: Final = 1
_QUARANTINED: Final = 2


@dataclass(frozen=True)
class Reconciliation:
    """Counts of one run; see the module docstring for their meaning."""

    inputs: int
    expected: int
    delivered: int
    quarantined: int
    lost: int
    duplicates: int
    conflicts: int
    unexpected: int
    reasons: dict[str, int] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        """Every expected output seen exactly in one role, nothing else seen."""
        return self.lost == 0 and self.conflicts == 0 and self.unexpected == 0

    def summary(self) -> str:
        return (f"inputs={self.inputs} expected={self.expected} delivered={self.delivered} "
                f"quarantined={self.quarantined} lost={self.lost} "
                f"duplicates={self.duplicates} conflicts={self.conflicts} "
                f"unexpected={self.unexpected}")


class Ledger:
    """Expected outputs per input number, and the outputs observed."""

    __slots__ = ("_copies", "_covered", "_distinct", "_expected", "_expected_total", "_roles",
                 "reasons", "versions")

    def __init__(self) -> None:
        self._expected: dict[int, int] = {}
        self._expected_total = 0
        self._copies: Counter[tuple[int, str]] = Counter()
        self._roles: dict[tuple[int, str], int] = {}
        self._distinct: Counter[int] = Counter()
        self._covered = 0  # expected slots seen at least once
        self.reasons: Counter[str] = Counter()
        self.versions: Counter[str] = Counter()

    def expect(self, seq: int, outputs: int = 1) -> None:
        """Input ``seq`` was acknowledged by the broker and should yield ``outputs`` outputs."""
        if outputs < 1:
            raise ValueError("every input yields at least one output")
        if seq in self._expected:
            raise ValueError(f"input {seq} is already expected")
        self._expected[seq] = outputs
        self._expected_total += outputs
        self._covered += min(self._distinct[seq], outputs)

    def observe(self, seq: int, slot: str, *, quarantined: bool, reason: str = "",
                version: str = "") -> None:
        """One output of input ``seq`` was read."""
        key = (seq, slot)
        self._copies[key] += 1
        if version:
            self.versions[version] += 1
        if self._copies[key] > 1:
            self._roles[key] |= _QUARANTINED if quarantined else _FORWARDED
            return
        self._roles[key] = _QUARANTINED if quarantined else _FORWARDED
        if quarantined:
            self.reasons[reason] += 1
        self._distinct[seq] += 1
        if self._distinct[seq] <= self._expected.get(seq, 0):
            self._covered += 1

    @property
    def inputs(self) -> int:
        return len(self._expected)

    @property
    def outstanding(self) -> int:
        """Expected outputs not seen yet."""
        return self._expected_total - self._covered

    @property
    def complete(self) -> bool:
        return self.outstanding == 0

    def seen(self, seq: int) -> int:
        """Distinct outputs of ``seq`` seen so far."""
        return self._distinct[seq]

    def missing(self, limit: int = 20) -> list[int]:
        """Up to ``limit`` input numbers with outputs not seen (for failure messages)."""
        out: list[int] = []
        for seq, outputs in self._expected.items():
            if self._distinct[seq] < outputs:
                out.append(seq)
                if len(out) >= limit:
                    break
        return out

    def reconcile(self) -> Reconciliation:
        delivered = quarantined = conflicts = 0
        for role in self._roles.values():
            if role == _FORWARDED | _QUARANTINED:
                conflicts += 1
            elif role == _FORWARDED:
                delivered += 1
            else:
                quarantined += 1
        unexpected = sum(max(0, count - self._expected.get(seq, 0))
                         for seq, count in self._distinct.items())
        return Reconciliation(
            inputs=len(self._expected),
            expected=self._expected_total,
            delivered=delivered,
            quarantined=quarantined,
            lost=self.outstanding,
            duplicates=sum(self._copies.values()) - len(self._copies),
            conflicts=conflicts,
            unexpected=unexpected,
            reasons=dict(self.reasons),
            versions=dict(self.versions),
        )
