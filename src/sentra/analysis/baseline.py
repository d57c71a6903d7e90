"""An online baseline of one series: its normal level and spread, by time of day when the
history shows a daily pattern (pure: the sample's timestamp is the only clock).

The level and spread are exponentially weighted in *time* (a decay constant in seconds,
not in samples), so a series sampled every second and one pushed every minute forget at
the same pace. Both are robust: a sample is winsorised at ``clip_sigma`` spreads before it
is learnt, so one wild value moves the baseline by a bounded amount instead of dragging it
(the plain mean/standard deviation of a 3-sigma detector is pulled by the very outliers it
is meant to find). The spread is the weighted mean absolute deviation, scaled to a normal
sigma (x 1.2533), with floors so that a flat or quantised series does not turn its first
wobble into an infinite score: a share of the series' typical magnitude, one step of its
resolution (the smallest change it has shown: 1 for counts, 0.001 for a ratio published
with 3 decimals, 4096 for bytes counted in blocks), and, for a series that rests at zero
and bursts, the spread such a mixture has (``sqrt(q (1 - q))`` times the typical burst, q
the share of non-zero samples).

Bursts: the non-zero values of a series that never goes negative also teach a baseline of
their *log magnitude* (``burst_z``). Rates and sizes are multiplicative: a network rate
whose seconds span 100 B to 100 kB is ordinary on a log scale and wildly "6-sigma" on a
linear one, and a rate that is zero most of the time has no linear spread worth the name.
The detector judges a point on the smaller of the two distances.

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
    warmup: int = 30  # samples that only teach the level, before any score is given
    warmup_s: float = 900.0  # seconds of history before a series may be judged
    clip_sigma: float = 4.0  # winsorising bound of what is learnt
    rel_floor: float = 0.002  # spread floor, as a share of the typical magnitude
    step_floor: float = 1.0  # spread floor, in steps of the series' resolution
    abs_floor: float = 1e-9
    log_floor: float = 1e-6  # least spread of the log magnitude of bursts
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
    prev: float = 0.0  # the last value
    step: float = 0.0  # resolution: the smallest change seen (0: it never changed)
    nonzero: float = 1.0  # weighted share of non-zero samples
    negative: bool = False  # a value under zero was seen: no log-magnitude baseline
    burst_n: int = 0  # non-zero samples learnt into the log-magnitude baseline
    burst_level: float = 0.0  # weighted mean of ln |x| over the non-zero samples
    burst_spread: float = 0.0  # its weighted mean absolute deviation

    # ------------------------------------------------------------------ reading

    def floor(self, params: BaselineParams = DEFAULT_PARAMS) -> float:
        floor = max(
            params.abs_floor, params.rel_floor * self.magnitude, params.step_floor * self.step
        )
        if self.burst_n:
            q = self.nonzero
            floor = max(floor, math.sqrt(q * (1.0 - q)) * math.exp(self.burst_level))
        return floor

    def learning(self, ts: float, params: BaselineParams = DEFAULT_PARAMS) -> bool:
        """Still warming up at ``ts``: too few samples or too short a history to judge."""
        return self.n < params.warmup or ts - self.first_ts < params.warmup_s

    def burst_z(self, x: float, params: BaselineParams = DEFAULT_PARAMS) -> float | None:
        """How many log-magnitude sigmas ``x`` lies from the usual non-zero values (None:
        not judged so: a zero, or a series that goes negative). Until ``warmup`` bursts
        have been seen none is judged as a point (0): a disk that wrote twice in ten
        minutes has not shown what its writes look like."""
        if x == 0.0 or self.negative:
            return None
        if self.burst_n < params.warmup:
            return 0.0
        sigma = max(self.burst_spread * MAD_TO_SIGMA, params.log_floor)
        return (math.log(abs(x)) - self.burst_level) / sigma

    def observe_step(self, x: float) -> None:
        """Learn the series' resolution from ``x`` (before it is scored: the size of the
        steps a series takes is no judgement on this one)."""
        if self.n:
            d = abs(x - self.prev)
            if d > 0.0 and (self.step == 0.0 or d < self.step):
                self.step = d

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
        self.observe_step(x)
        self.prev = x
        self.negative = self.negative or x < 0.0
        if self.n == 0:
            self.first_ts = self.last_ts = ts
            self.level, self.spread, self.magnitude = x, 0.0, abs(x)
            self.nonzero = float(x != 0.0)
            self.hour_level = [x] * HOURS
            self.hour_spread = [0.0] * HOURS
            self.hour_n = [0] * HOURS
            self._learn_hour(ts, x, 0.0, params)
            self._learn_burst(x, 0.0, params)
            self.n = 1
            return
        dt = min(max(ts - self.last_ts, 0.0), params.max_step_s)
        a = _alpha(self.n, dt, params.tau_s) * rate
        before = self.level
        dev = self._clip(x - before, self.spread, params)
        self.level, self.spread = before + a * dev, self.spread + a * (abs(dev) - self.spread)
        self.magnitude += a * (abs(before + dev) - self.magnitude)  # winsorised too
        self.nonzero += a * (float(x != 0.0) - self.nonzero)
        self._learn_hour(ts, x, dt, params, rate)
        self._learn_burst(x, dt, params, rate)
        self.n += 1
        self.last_ts = max(self.last_ts, ts)

    def _learn_burst(self, x: float, dt: float, params: BaselineParams, rate: float = 1.0) -> None:
        if x == 0.0 or self.negative:
            return
        v = math.log(abs(x))
        if self.burst_n == 0:
            self.burst_level, self.burst_spread = v, 0.0
        else:
            a = _alpha(self.burst_n, dt, params.tau_s) * rate
            dev = v - self.burst_level
            if self.burst_n >= params.warmup:
                bound = params.clip_sigma * max(self.burst_spread * MAD_TO_SIGMA, params.log_floor)
                dev = min(max(dev, -bound), bound)
            self.burst_level += a * dev
            self.burst_spread += a * (abs(dev) - self.burst_spread)
        self.burst_n += 1

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
