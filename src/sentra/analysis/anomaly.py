"""An anomaly score per sample and an anomaly bit per series (pure: time is the sample's).

A ``Detector`` wraps one series' ``Baseline`` and looks for four kinds of trouble, each
turned into a share of its alarm threshold (1.0 = at the threshold):

* **a point** far from what is expected: ``|z| / max(z_point, tail_factor * tail)``
  (spikes). ``tail`` is a running estimate of the 0.99 quantile of ``|z|`` (learnt on a
  log scale, never under the normal 2.58), so a series with routine bursts (network
  bytes, a core pinned by a job now and then) earns a higher bar than a quiet one: a
  plain 3-sigma test fires on every one of those bursts;
* **a sustained shift**: a short-term mean (EWMA, ``fast_alpha`` per sample, of samples
  winsorised at ``z_clip`` sigmas) away from the baseline by ``fast_l`` of *its own*
  learnt spread (level shifts, slow leaks, saturation: runs of "somewhat high" values).
  Measuring the short-term mean against its own spread calibrates it to the series: on
  white noise that spread is about a third of a sigma, so a 2-sigma shift shows within a
  few samples; on a series that wanders (memory, smoothed loads) it is near one sigma,
  and the wander alone does not fire;
* **a drift**: the baseline's own level away from a long-term level (``slow_tau_s``, 8 h)
  by ``drift_l`` of that difference's learnt spread. A slow leak drags a 1-hour baseline
  along with it, so the short-term mean never looks far off; against the 8-hour level it
  does;
* **a flat line** in a series that normally moves: ``run / flat_run`` once the same value
  repeats in a series whose long-run share of repeats is under ``flat_max_repeat`` (a
  stuck sensor, a metric pinned at a cap).

The **bit** has hysteresis: it turns on when the largest of the four reaches 1 and off
once it has fallen under ``clear`` again, so a fault is one stretch, not a flicker of
alarms, and one outlier does not fire for ever (the short-term mean drains back within a
few samples). While the bit is on, the baseline (and the spreads) learn
``anomalous_rate`` times as fast, so a fault does not quickly become the new normal, yet
a lasting change is accepted in the end.

The **score** is the largest share, capped below 1, or exactly 1 while the bit is on: a
stored score of 1 marks an anomalous stretch.

Measured against a plain 3-sigma detector in bench/anomaly_quality.py (docs/anomalies.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec

from sentra.analysis.baseline import DEFAULT_PARAMS as BASELINE_DEFAULTS
from sentra.analysis.baseline import MAD_TO_SIGMA, Baseline, BaselineParams

ANOMALOUS = 1.0
NORMAL_TAIL = 2.576  # the 0.99 quantile of |z| for normal noise
_BELOW = 0.999


@dataclass(frozen=True)
class DetectorParams:
    baseline: BaselineParams = BASELINE_DEFAULTS
    z_point: float = 5.0  # a point this many sigmas out is anomalous (normal tails)
    tail_p: float = 0.99  # the quantile of |z| tracked to learn how heavy the tails are
    tail_rate: float = 0.1  # log-scale step of the tail estimate
    tail_factor: float = 1.6  # a point must also be this many tail quantiles out
    z_clip: float = 4.0  # winsorising bound (in sigmas) of what the short-term mean takes
    fast_alpha: float = 0.2  # smoothing of the short-term mean (per sample)
    fast_l: float = 5.0  # a short-term mean this many of its own sigmas out is anomalous
    fast_floor: float = 0.1  # least sigma of the short-term mean, in baseline sigmas
    fast_memory: int = 1000  # samples its spread is averaged over
    slow_tau_s: float = 8 * 3600.0  # the long-term level a drift is measured from
    drift_l: float = 5.0  # the baseline this many of its own drift sigmas away: a leak
    drift_memory: int = 5000
    flat_run: int = 30
    flat_max_repeat: float = 0.05
    repeat_memory: int = 2000  # samples the share of repeats is averaged over
    clear: float = 0.5
    anomalous_rate: float = 0.1


DEFAULT_DETECTOR = DetectorParams()


class Detector(msgspec.Struct, gc=False):
    baseline: Baseline = msgspec.field(default_factory=Baseline)
    prev: float | None = None
    run: int = 0  # repeats of ``prev`` in a row
    repeat: float = 0.0  # long-run share of samples equal to the one before
    tail: float = NORMAL_TAIL  # running estimate of the tail_p quantile of |z|
    fast: float | None = None  # short-term mean of the (winsorised) samples
    fast_spread: float = 0.0  # mean |fast - level| in baseline sigmas
    fast_n: int = 0
    slow: float | None = None  # long-term level (slow_tau_s) of the winsorised samples
    drift_spread: float = 0.0  # mean |baseline level - slow| in baseline sigmas
    anomalous: bool = False
    since: float = 0.0  # start of the current (or last) anomalous stretch
    score: float = 0.0  # of the last sample

    def update(self, ts: float, x: float, params: DetectorParams = DEFAULT_DETECTOR) -> float:
        """Score one sample (0 while the baseline warms up), update the bit, learn it."""
        same = self.prev is not None and x == self.prev
        self.run = self.run + 1 if same else 0
        self.prev = x
        bp = params.baseline
        exp = self.baseline.expected(ts, bp)
        if not exp.ready:
            self._count_repeat(same, params, 1.0)
            self.baseline.learn(ts, x, bp)
            self.score = 0.0
            return 0.0
        level, sigma = exp.level, exp.sigma
        z = (x - level) / sigma
        point = abs(z) / max(params.z_point, params.tail_factor * self.tail)
        # The short-term mean, of samples winsorised by how heavy this series' tails are
        # (a routine burst moves it a little, a shift moves it all the way).
        bound = params.z_clip
        xc = level + min(max(z, -bound), bound) * sigma
        fast = xc if self.fast is None else self.fast + params.fast_alpha * (xc - self.fast)
        self.fast = fast
        dev = (fast - level) / sigma
        fsig = max(self.fast_spread * MAD_TO_SIGMA, params.fast_floor)
        # A slow leak drags the baseline along; against a long-term level it still shows.
        slow = xc if self.slow is None else self.slow
        drift = (self.baseline.level - slow) / sigma
        dsig = max(self.drift_spread * MAD_TO_SIGMA, params.fast_floor)
        raw = max(point, abs(dev) / (params.fast_l * fsig), abs(drift) / (params.drift_l * dsig))
        if self.run and self.repeat < params.flat_max_repeat:
            raw = max(raw, self.run / params.flat_run)
        was = self.anomalous
        if was:
            self.anomalous = raw >= params.clear
        elif raw >= ANOMALOUS:
            self.anomalous, self.since = True, ts
        rate = params.anomalous_rate if self.anomalous else 1.0
        self._count_repeat(same, params, rate)
        a = rate / min(self.fast_n + 1, params.fast_memory)
        self.fast_spread += a * (min(abs(dev), params.z_clip * fsig) - self.fast_spread)
        self.fast_n += 1
        a = rate / min(self.fast_n, params.drift_memory)
        self.drift_spread += a * (min(abs(drift), params.z_clip * dsig) - self.drift_spread)
        dt = min(max(ts - self.baseline.last_ts, 0.0), bp.max_step_s)
        self.slow = slow + rate * (1.0 - math.exp(-dt / params.slow_tau_s)) * (xc - slow)
        # The tails learn at full speed from every sample but the second and later of an
        # anomalous stretch: routine bursts teach them, a lasting fault does not.
        above = float(abs(z) > self.tail) - (1.0 - params.tail_p)
        step = params.tail_rate * (params.anomalous_rate if was and self.anomalous else 1.0)
        self.tail = max(self.tail * math.exp(step * above), NORMAL_TAIL)
        self.baseline.learn(ts, x, bp, rate)
        self.score = ANOMALOUS if self.anomalous else min(raw, _BELOW)
        return self.score

    def _count_repeat(self, same: bool, params: DetectorParams, rate: float) -> None:
        a = rate / min(self.baseline.n + 1, params.repeat_memory)
        self.repeat += a * (float(same) - self.repeat)
