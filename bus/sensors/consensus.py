"""Consensus and polarisation over the members' latest stances.

``StanceTally`` counts how many tracked members currently hold each stance
(O(1) per change) and derives, in O(K) for K distinct stances:

- modal share: max_s c_s / N;
- consensus: 1 - H / ln K with H = -sum_s (c_s/N) ln (c_s/N), where K is the
  number of possible stances when the scale is known (numeric levels or a
  fixed label set), else the number of stances currently held; K = 1 means
  consensus 1;
- Esteban-Ray polarisation over numeric stances,
  P = sum_i sum_j pi_i^(1+alpha) pi_j |y_i - y_j|, computed with prefix sums
  over the sorted levels in O(K log K), and divided by its maximum on the
  scale, (1/2)^(1+alpha) * (max - min): two equal camps at both ends, which
  Esteban and Ray show is the most polarised distribution for alpha <= 1.6.

Derived values are cached until the next change, so repeated reads between
stance changes are O(1).
"""

from __future__ import annotations

import math


class StanceTally:
    __slots__ = (
        "_alpha",
        "_capacity",
        "_consensus",
        "_majority",
        "_modal_share",
        "_polarisation",
        "_possible",
        "_span",
        "_stale",
        "counts",
        "total",
        "values",
    )

    def __init__(
        self,
        *,
        capacity: int,
        possible: int | None = None,
        alpha: float = 1.0,
        span: float = 0.0,
    ) -> None:
        self._capacity = capacity
        self._possible = possible
        self._alpha = alpha
        self._span = span
        self.counts: dict[str, int] = {}
        self.values: dict[str, float] = {}
        self.total = 0
        self._stale = False
        self._majority: str | None = None
        self._modal_share: float | None = None
        self._consensus: float | None = None
        self._polarisation: float | None = None

    def accepts(self, label: str) -> bool:
        """False when ``label`` is new and ``capacity`` stances are already held."""
        return label in self.counts or len(self.counts) < self._capacity

    def add(self, label: str, value: float = math.nan) -> None:
        self.counts[label] = self.counts.get(label, 0) + 1
        if not math.isnan(value):
            self.values[label] = value
        self.total += 1
        self._stale = True

    def remove(self, label: str) -> None:
        left = self.counts[label] - 1
        if left:
            self.counts[label] = left
        else:
            del self.counts[label]
            self.values.pop(label, None)
        self.total -= 1
        self._stale = True

    def _refresh(self) -> None:
        if not self._stale:
            return
        self._stale = False
        self._polarisation = None
        n = self.total
        if not n:
            self._majority = self._modal_share = self._consensus = None
            return
        self._majority = strict_mode(self.counts)
        self._modal_share = max(self.counts.values()) / n
        k = self._possible or len(self.counts)
        if k <= 1:
            self._consensus = 1.0
        else:
            entropy = -sum(c / n * math.log(c / n) for c in self.counts.values())
            self._consensus = min(1.0, max(0.0, 1.0 - entropy / math.log(k)))
        if self.values and self._span > 0:
            shares = _shares(self.counts, self.values)
            peak = 0.5 ** (1 + self._alpha) * self._span
            self._polarisation = min(1.0, esteban_ray(shares, self._alpha) / peak)

    def majority(self) -> str | None:
        """The single most held stance; None when empty or tied for first."""
        self._refresh()
        return self._majority

    def modal_share(self) -> float | None:
        self._refresh()
        return self._modal_share

    def consensus(self) -> float | None:
        self._refresh()
        return self._consensus

    def polarisation(self) -> float | None:
        """Normalised Esteban-Ray index in [0, 1]; None without numeric stances."""
        self._refresh()
        return self._polarisation


def _shares(counts: dict[str, int], values: dict[str, float]) -> list[tuple[float, float]]:
    n = sum(counts[label] for label in values)
    return sorted((value, counts[label] / n) for label, value in values.items())


def strict_mode(counts: dict[str, int]) -> str | None:
    """The key with the strictly largest count, or None (empty or a tie). O(K)."""
    best: str | None = None
    best_count = 0
    tied = False
    for label, count in counts.items():
        if count > best_count:
            best, best_count, tied = label, count, False
        elif count == best_count:
            tied = True
    return None if tied else best


def esteban_ray(shares: list[tuple[float, float]], alpha: float) -> float:
    """sum_i sum_j pi_i^(1+alpha) pi_j |y_i - y_j| for (y, pi) sorted by y.

    For each i, sum_j pi_j |y_i - y_j| = y_i (W_below - W_above)
    - (M_below - M_above), with W and M the prefix sums of pi and pi*y
    below and above i: O(K) after sorting.
    """
    total_weight = sum(share for _, share in shares)
    total_moment = sum(value * share for value, share in shares)
    weight_below = moment_below = 0.0
    result = 0.0
    for value, share in shares:
        weight_above = total_weight - weight_below - share
        moment_above = total_moment - moment_below - value * share
        distance = value * (weight_below - weight_above) - (moment_below - moment_above)
        result += share ** (1 + alpha) * distance
        weight_below += share
        moment_below += value * share
    return result
