"""A set-point controller: incremental (velocity-form) PID with a hysteresis band.

Algorithm: each update computes the error ``e = setpoint - measured`` and
changes the output by

    du = kp * (e - e1) + ki * e * dt + kd * (e - 2 * e1 + e2) / dt

where e1 and e2 are the two previous errors; the output is then clamped to
``[low, high]``. Because the controller keeps the output rather than an
integral sum, clamping *is* the anti-windup: a saturated controller has no
accumulated integral to unwind and reacts the moment the error turns.

Hysteresis (a Schmitt trigger on the error): the controller starts acting
when ``|e|`` exceeds ``band`` and stops (treats the error as zero) once
``|e|`` has fallen below ``band / 2``. A measurement hovering near the
set-point therefore leaves the output alone instead of making it chatter,
and the controller does not become one more oscillator in the loop it damps.
"""

from __future__ import annotations


class PidController:
    __slots__ = ("_active", "_e1", "_e2", "band", "high", "kd", "ki", "kp", "low", "output",
                 "setpoint")

    def __init__(
        self,
        *,
        setpoint: float,
        kp: float,
        ki: float,
        kd: float = 0.0,
        low: float,
        high: float,
        band: float = 0.0,
        initial: float | None = None,
    ) -> None:
        if low > high:
            raise ValueError("low must not exceed high")
        self.setpoint = setpoint
        self.kp = kp
        self.ki = ki
        self.kd = kd
        self.low = low
        self.high = high
        self.band = band
        self.output = high if initial is None else min(max(initial, low), high)
        self._active = False
        self._e1 = 0.0
        self._e2 = 0.0

    def _effective_error(self, measured: float) -> float:
        error = self.setpoint - measured
        size = abs(error)
        if self._active and size < self.band / 2:
            self._active = False
        elif not self._active and size > self.band:
            self._active = True
        return error if self._active else 0.0

    def update(self, measured: float, dt: float) -> float:
        """Feed one measurement taken ``dt`` seconds after the previous one; the new output."""
        if dt <= 0:
            return self.output
        e = self._effective_error(measured)
        du = self.kp * (e - self._e1) + self.ki * e * dt
        if self.kd:
            du += self.kd * (e - 2 * self._e1 + self._e2) / dt
        self._e2, self._e1 = self._e1, e
        self.output = min(max(self.output + du, self.low), self.high)
        return self.output
