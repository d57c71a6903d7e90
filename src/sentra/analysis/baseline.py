"""An online baseline of one series: its normal level and spread, by time of day when the
history shows a daily pattern (pure: the sample's timestamp is the only clock).

The level and spread are exponentially weighted in *time* (a decay constant in seconds,
not in samples), so a series sampled every second and one pushed every minute forget at
the same pace. Both are robust: a sample is winsorised at ``clip_sigma`` spreads before it
is learnt, so one wild value moves the baseline by a bounded amount instead of dragging it
(the plain mean/standard deviation of a 3-sigma detector is pulled by the very outliers it
is meant to find). The spread is the weighted mean absolute deviation, scaled to a normal
sigma (x 1.2533), with a floor proportional to the series' typical magnitude so that a
flat series does not turn its first wobble into an infinite score.

Time of day: every sample also teaches one of 24 hour-of-day buckets (UTC hours of the
unix timestamp: a daily cycle is a daily cycle whatever the time zone) that forget over
about a week of that hour's own time. The profile is *used* only once it has seen
``profile_min_days`` days with every bucket filled and the hours differ from one another
by more than their own spread (``profile_strength``): a series without a daily pattern is
judged against its recent level, one with a pattern against what this hour usually looks
like (interpolated between neighbouring hours).

State is a msgspec Struct of plain numbers and lists: it encodes as it is for
``state/baselines.msgpack`` and decodes back to the same object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec

HOURS = 24
DAY_S = 86_400.0
MAD_TO_SIGMA = 1.2533  # E|X - mu| = sigma * sqrt(2 / pi) for a normal X


@dataclass(frozen=True)
class BaselineParams:
    """How fast a baseline learns and when it trusts its time-of-day profile."""

    tau_s: float = 3600.0  # decay of the recent level and spread
    max_step_s: float = 180.0  # a gap longer than this teaches no more than this much
    warmup: int = 30  # samples before any score is given
    clip_sigma: float = 4.0  # winsorising bound of what is learnt
    rel_floor: float = 0.002  # spread floor, as a share of the typical magnitude
    abs_floor: float = 1e-9
    profile_tau_s: float = 7 * 3600.0  # of a bucket's own time: ~a week of days
    profile_min_days: float = 2.0
    profile_min_samples: int = 10  # per hour bucket
    profile_strength: float = 1.0  # std of the hourly levels / mean hourly spread


DEFAULT_PARAMS = BaselineParams()


@dataclass(frozen=True)
class Expected:
    """What a baseline expects at one instant."""

    level: float
    sigma: float
    seasonal: bool = False
    ready: bool = True


def _alpha(n: int, dt: float, tau: float) -> float:
    """Running mean for the first samples, then time-based exponential forgetting."""
    return max(1.0 / (n + 1), 1.0 - math.exp(-dt / tau))


class Baseline(msgspec.Struct, gc=False):
    n: int = 0
    first_ts: float = 0.0
    last_ts: float = 0.0
    level: float = 0.0
    spread: float = 0.0  # weighted mean absolute deviation around ``level``
    magnitude: float = 0.0  # weighted mean of |x|, for the spread's floor
    hour_level: list[float] = msgspec.field(default_factory=list)
    hour_spread: list[float] = msgspec.field(default_factory=list)
    hour_n: list[int] = msgspec.field(default_factory=list)
    seasonal: bool = False  # the profile is in use (decided when the hour changes)
    hour: int = -1  # bucket of the last sample

    # ------------------------------------------------------------------ reading

    def floor(self, params: BaselineParams = DEFAULT_PARAMS) -> float:
        return max(params.abs_floor, params.rel_floor * self.magnitude)

    def expected(self, ts: float, params: BaselineParams = DEFAULT_PARAMS) -> Expected:
        """The level and sigma this baseline expects at ``ts`` (``ready`` False while it
        is still warming up)."""
        floor = self.floor(params)
        if self.seasonal and self.hour_n:
            pos = (ts % DAY_S) / 3600.0 - 0.5
            base = math.floor(pos)
            w = pos - base
            i, j = base % HOURS, (base + 1) % HOURS
            level = (1 - w) * self.hour_level[i] + w * self.hour_level[j]
            spread = (1 - w) * self.hour_spread[i] + w * self.hour_spread[j]
            return Expected(level, max(spread * MAD_TO_SIGMA, floor), True, True)
        return Expected(
            self.level, max(self.spread * MAD_TO_SIGMA, floor), False, self.n >= params.warmup
        )

    # ----------------------------------------------------------------- learning

    def learn(
        self, ts: float, x: float, params: BaselineParams = DEFAULT_PARAMS, rate: float = 1.0
    ) -> None:
        """Learn one sample; ``rate`` < 1 learns more slowly (used while anomalous, so a
        fault does not quickly become the new normal)."""
        if self.n == 0:
            self.first_ts = self.last_ts = ts
            self.level, self.spread, self.magnitude = x, 0.0, abs(x)
            self.hour_level = [x] * HOURS
            self.hour_spread = [0.0] * HOURS
            self.hour_n = [0] * HOURS
            self._learn_hour(ts, x, 0.0, params)
            self.n = 1
            return
        dt = min(max(ts - self.last_ts, 0.0), params.max_step_s)
        a = _alpha(self.n, dt, params.tau_s) * rate
        before = self.level
        dev = self._clip(x - before, self.spread, params)
        self.level, self.spread = before + a * dev, self.spread + a * (abs(dev) - self.spread)
        self.magnitude += a * (abs(before + dev) - self.magnitude)  # winsorised too
        self._learn_hour(ts, x, dt, params, rate)
        self.n += 1
        self.last_ts = max(self.last_ts, ts)

    def _clip(self, dev: float, spread: float, params: BaselineParams) -> float:
        """Winsorise a deviation at ``clip_sigma`` spreads (once past the warm-up)."""
        if self.n < params.warmup:
            return dev
        bound = params.clip_sigma * max(spread * MAD_TO_SIGMA, self.floor(params))
        return min(max(dev, -bound), bound)

    def _learn_hour(
        self, ts: float, x: float, dt: float, params: BaselineParams, rate: float = 1.0
    ) -> None:
        h = int((ts % DAY_S) // 3600) % HOURS
        n = self.hour_n[h]
        if n == 0:
            self.hour_level[h], self.hour_spread[h] = x, 0.0
        else:
            a = _alpha(n, dt, params.profile_tau_s) * rate
            dev = self._clip(x - self.hour_level[h], self.hour_spread[h], params)
            self.hour_level[h] += a * dev
            self.hour_spread[h] += a * (abs(dev) - self.hour_spread[h])
        self.hour_n[h] = n + 1
        if h != self.hour:
            self.hour = h
            self.seasonal = self._profile_shows_pattern(ts, params)

    def _profile_shows_pattern(self, ts: float, params: BaselineParams) -> bool:
        if ts - self.first_ts < params.profile_min_days * DAY_S:
            return False
        if min(self.hour_n) < params.profile_min_samples:
            return False
        mean = sum(self.hour_level) / HOURS
        std = math.sqrt(sum((v - mean) ** 2 for v in self.hour_level) / HOURS)
        within = max(sum(self.hour_spread) / HOURS * MAD_TO_SIGMA, self.floor(params))
        return std > params.profile_strength * within
