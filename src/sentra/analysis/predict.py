"""Short-horizon predictions from a robust linear trend: when a disk fills, where memory
is heading (pure: timestamps come with the samples).

A ``Trend`` keeps one point per ``step_s`` (the mean of the samples in that step) for the
last ``points`` steps, and fits a Theil-Sen line through them: the median of the slopes
between every pair of points, so a single burst (a log rotation, a cache drop) does not
tilt the line as it would a least-squares fit. ``hours_until(limit)`` is when the fitted
line, extended from its value at the newest point, reaches ``limit``; None when the trend
does not head there (flat, falling, or too little history: ``min_points``).

Serialisable as it is (msgspec Struct of plain numbers).
"""

from __future__ import annotations

import statistics

import msgspec

MAX_HOURS = 24 * 365.0  # further than a year is "not in sight"


class Trend(msgspec.Struct, gc=False):
    step_s: float = 60.0
    points: int = 60
    min_points: int = 10
    ts: list[float] = msgspec.field(default_factory=list)
    values: list[float] = msgspec.field(default_factory=list)
    step: float = -1.0  # start of the step being averaged
    acc: float = 0.0
    acc_n: int = 0

    def add(self, ts: float, value: float) -> None:
        step = ts - ts % self.step_s
        if step != self.step:
            self._close()
            self.step, self.acc, self.acc_n = step, 0.0, 0
        self.acc += value
        self.acc_n += 1

    def _close(self) -> None:
        if self.acc_n and (not self.ts or self.step > self.ts[-1]):
            self.ts.append(self.step + self.step_s / 2)
            self.values.append(self.acc / self.acc_n)
            del self.ts[: -self.points], self.values[: -self.points]

    def _series(self) -> tuple[list[float], list[float]]:
        ts, vs = list(self.ts), list(self.values)
        if self.acc_n and (not ts or self.step > ts[-1]):  # the step in progress counts
            ts.append(self.step + self.step_s / 2)
            vs.append(self.acc / self.acc_n)
        return ts, vs

    def fit(self) -> tuple[float, float] | None:
        """(slope per second, fitted value at the newest point), or None if too short."""
        ts, vs = self._series()
        if len(ts) < self.min_points:
            return None
        slopes = [
            (vs[j] - vs[i]) / (ts[j] - ts[i])
            for i in range(len(ts))
            for j in range(i + 1, len(ts))
            if ts[j] > ts[i]
        ]
        slope = statistics.median(slopes)
        intercept = statistics.median(v - slope * t for t, v in zip(ts, vs, strict=True))
        return slope, intercept + slope * ts[-1]

    def slope_per_hour(self) -> float | None:
        fitted = self.fit()
        return None if fitted is None else fitted[0] * 3600.0

    def hours_until(self, limit: float) -> float | None:
        """Hours until the trend reaches ``limit`` (0 when already there), or None."""
        fitted = self.fit()
        if fitted is None:
            return None
        slope, now = fitted
        if (limit - now) * slope <= 0:
            return 0.0 if now >= limit and slope >= 0 else None
        hours = (limit - now) / slope / 3600.0
        return round(hours, 2) if hours <= MAX_HOURS else None
