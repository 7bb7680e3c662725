"""Oscillation statistics of a count series over a sliding window, O(1) per sample.

The series is the number of messages a group sent in each complete interval;
the window holds its last ``length`` samples x_1 .. x_n (oldest first) in a
ring buffer. Running integer sums over the window are updated as a sample
enters and the oldest leaves, so every statistic is exact and costs O(1):

    S = sum x_t            Q = sum x_t^2           P = sum_{t>=2} x_t * x_{t-1}

Lag-1 autocorrelation with m = S / n (the usual biased estimator)::

    r1 = sum_{t>=2} (x_t - m)(x_{t-1} - m) / sum_t (x_t - m)^2
       = (P - m * (2S - x_1 - x_n) + (n - 1) * m^2) / (Q - n * m^2)

Zero-crossing rate of the first differences d_t = x_t - x_{t-1}: the
fraction of consecutive difference pairs with strictly opposite signs,
C / (n - 2). Differencing removes the level of the (non-negative) series
exactly, whereas crossings of the window mean would have to be recounted
whenever the mean moves. A period-2 oscillation scores 1, a monotone or
constant series 0, white noise about 2/3.
"""

from __future__ import annotations


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


class RateSeries:
    __slots__ = ("_crossed", "_length", "_n", "_oldest", "_values", "crossings", "p", "q", "s")

    def __init__(self, length: int) -> None:
        if length < 3:
            raise ValueError("a rate series needs at least 3 samples")
        self._length = length
        self._values = [0] * length
        self._crossed = [False] * length  # crossing flag of the sample at the same slot
        self._oldest = 0
        self._n = 0
        self.s = 0
        self.q = 0
        self.p = 0
        self.crossings = 0

    def __len__(self) -> int:
        return self._n

    def _at(self, age: int) -> int:
        """Slot of the sample ``age`` positions after the oldest."""
        return (self._oldest + age) % self._length

    def push(self, value: int) -> None:
        """Append one interval's count, expiring the oldest sample when full."""
        if self._n == self._length:
            self._expire_oldest()
        slot = self._at(self._n)
        crossed = False
        if self._n >= 1:
            previous = self._values[self._at(self._n - 1)]
            self.p += previous * value
            if self._n >= 2:
                before = self._values[self._at(self._n - 2)]
                crossed = _sign(value - previous) * _sign(previous - before) < 0
        self._values[slot] = value
        self._crossed[slot] = crossed
        self.crossings += crossed
        self.s += value
        self.q += value * value
        self._n += 1

    def _expire_oldest(self) -> None:
        oldest = self._values[self._oldest]
        self.s -= oldest
        self.q -= oldest * oldest
        self.p -= oldest * self._values[self._at(1)]
        # The crossing recorded at the third sample used the oldest one as its
        # first difference's origin: with the oldest gone it no longer counts.
        third = self._at(2)
        self.crossings -= self._crossed[third]
        self._crossed[third] = False
        self._oldest = (self._oldest + 1) % self._length
        self._n -= 1

    def mean(self) -> float | None:
        return self.s / self._n if self._n else None

    def autocorrelation(self) -> float | None:
        """Lag-1 autocorrelation; None below 3 samples or for a constant series."""
        n = self._n
        if n < 3:
            return None
        # Scaled by n^2 so the arithmetic stays in exact integers.
        first = self._values[self._oldest]
        last = self._values[self._at(n - 1)]
        variance = n * self.q - self.s * self.s
        if variance == 0:
            return None
        covariance = n * n * self.p - n * self.s * (2 * self.s - first - last) + (
            n - 1
        ) * self.s * self.s
        return covariance / (n * variance)

    def zero_crossing_rate(self) -> float | None:
        """Fraction of difference pairs that change sign; None below 3 samples."""
        if self._n < 3:
            return None
        return self.crossings / (self._n - 2)

    def values(self) -> list[int]:
        """The window's samples, oldest first (O(length): for tests and tools)."""
        return [self._values[self._at(age)] for age in range(self._n)]
