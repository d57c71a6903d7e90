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
    tail_p: float = 0.999  # the quantile of |z| tracked to learn how heavy the tails are
    tail_rate: float = 0.1  # log-scale step of the tail estimate
    tail_factor: float = 1.6  # a point must also be this many tail quantiles out
    z_clip: float = 4.0  # winsorising bound (in sigmas) of what the short-term mean takes
    fast_alpha: float = 0.2  # smoothing of the short-term mean (per sample)
    fast_l: float = 5.0  # a short-term mean this many of its own sigmas out is anomalous
    fast_floor: float = 0.3  # least sigma of the short-term mean, in baseline sigmas: one
    # sample moves that mean by at most fast_alpha * z_clip = 0.8 sigmas, so on a flat series
    # (whose short-term mean never moved) one odd sample cannot pass for a shift
    drift_floor: float = 0.1  # least sigma of the drift, in baseline sigmas
    fast_memory: int = 1000  # samples its spread is averaged over
    slow_tau_s: float = 8 * 3600.0  # the long-term level a drift is measured from
    drift_l: float = 5.0  # the baseline this many of its own drift sigmas away: a leak
    drift_memory: int = 5000
    flat_run: int = 30
    flat_max_repeat: float = 0.05
    repeat_memory: int = 2000  # samples the share of repeats is averaged over
    clear: float = 0.5
    burst_s: float = 120.0  # a run over within this long is a burst: it teaches the bars
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
    fast_n: int = 0  # samples scored (past the baseline's own first samples)
    shift_tail: float = NORMAL_TAIL  # the shift bar is tail_factor times this: bursts raise it
    run_since: float | None = None  # start of the current run of high short-term means
    run_peak: float = 0.0  # its highest |fast - level| / its sigma
    slow: float | None = None  # long-term level (slow_tau_s) of the winsorised samples
    drift_spread: float = 0.0  # mean |baseline level - slow| in baseline sigmas
    anomalous: bool = False
    since: float = 0.0  # start of the current (or last) anomalous stretch
    score: float = 0.0  # of the last sample
    learning: bool = True  # still warming up as of the last sample: never anomalous

    def is_learning(self, ts: float, params: DetectorParams = DEFAULT_DETECTOR) -> bool:
        """Warming up at ``ts``: the baseline is too young (``warmup`` samples and
        ``warmup_s`` seconds), or its tests have scored fewer than ``warmup`` samples."""
        bp = params.baseline
        return self.fast_n < bp.warmup or self.baseline.learning(ts, bp)

    def update(self, ts: float, x: float, params: DetectorParams = DEFAULT_DETECTOR) -> float:
        """Score one sample, update the bit, learn it. While the series warms up
        (``is_learning``) the tests learn what is usual for it but the bit stays off and
        the score is 0: a baseline that has seen a few minutes of a series knows nothing."""
        same = self.prev is not None and x == self.prev
        self.run = self.run + 1 if same else 0
        self.prev = x
        bp = params.baseline
        self.baseline.observe_step(x)
        exp = self.baseline.expected(ts, bp)
        if not exp.ready:
            self._count_repeat(same, params, 1.0)
            self.baseline.learn(ts, x, bp)
            self.score, self.learning = 0.0, True
            return 0.0
        learning = self.is_learning(ts, params)
        level, sigma = exp.level, exp.sigma
        z = (x - level) / sigma
        # A rate or size is judged on the smaller of its linear and log-magnitude distances:
        # a burst the size of the usual bursts is no spike, however zero the rest is.
        bz = self.baseline.burst_z(x, bp)
        zp = abs(z) if bz is None else min(abs(z), abs(bz))
        point = zp / max(params.z_point, params.tail_factor * self.tail)
        # The short-term mean, of samples winsorised by how heavy this series' tails are
        # (a routine burst moves it a little, a shift moves it all the way).
        bound = params.z_clip
        xc = level + min(max(z, -bound), bound) * sigma
        fast = xc if self.fast is None else self.fast + params.fast_alpha * (xc - self.fast)
        self.fast = fast
        dev = (fast - level) / sigma
        fsig = max(self.fast_spread * MAD_TO_SIGMA, params.fast_floor)
        # Runs of high values that are routine for this series (a job pinning a core for
        # half a minute every few minutes) earn the shift test a higher bar, as bursts do
        # the point test.
        shift = abs(dev) / fsig
        shift_bar = max(params.fast_l, params.tail_factor * self.shift_tail)
        # A slow leak drags the baseline along; against a long-term level it still shows.
        slow = level if self.slow is None else self.slow  # from the mean of the first samples
        drift = (self.baseline.level - slow) / sigma
        dsig = max(self.drift_spread * MAD_TO_SIGMA, params.drift_floor)
        raw = max(point, shift / shift_bar, abs(drift) / (params.drift_l * dsig))
        if self.run and self.repeat < params.flat_max_repeat:
            raw = max(raw, self.run / params.flat_run)
        was = self.anomalous
        if was:
            self.anomalous = raw >= params.clear
        elif raw >= ANOMALOUS and not learning:
            self.anomalous, self.since = True, ts
        rate = params.anomalous_rate if self.anomalous else 1.0
        self._count_repeat(same, params, rate)
        a = rate / min(self.fast_n + 1, params.fast_memory)
        self.fast_spread += a * (min(abs(dev), params.z_clip * fsig) - self.fast_spread)
        self.fast_n += 1
        a = rate / min(self.fast_n, params.drift_memory)
        self.drift_spread += a * (min(abs(drift), params.z_clip * dsig) - self.drift_spread)
        dt = min(max(ts - self.baseline.last_ts, 0.0), bp.max_step_s)
        # The long-term level learns at full speed even while anomalous: it is the
        # reference a lasting change is finally accepted against.
        self.slow = slow + (1.0 - math.exp(-dt / params.slow_tau_s)) * (xc - slow)
        # The tails learn at full speed from every sample but the second and later of an
        # anomalous stretch: routine bursts teach them, a lasting fault does not.
        above = float(zp > self.tail) - (1.0 - params.tail_p)
        lasting = was and self.anomalous and ts - self.since > params.burst_s
        step = params.tail_rate * (params.anomalous_rate if lasting else 1.0)
        self.tail = max(self.tail * math.exp(step * above), NORMAL_TAIL)
        self._learn_runs(ts, shift, shift / shift_bar, params)
        self.baseline.learn(ts, x, bp, rate)
        self.learning = learning
        self.score = ANOMALOUS if self.anomalous else 0.0 if learning else min(raw, _BELOW)
        return self.score

    def _learn_runs(self, ts: float, shift: float, share: float, params: DetectorParams) -> None:
        """A run of high values that reached the shift bar and was over within ``burst_s``
        was a burst (a job pinning a core for half a minute): the next one as strong is
        routine. One that lasts (a level shift, a leak building up) teaches nothing, so
        the bar learns from ended runs only, never from one still under way."""
        if self.run_since is None:
            if share >= ANOMALOUS and self.fast_n >= params.baseline.warmup:
                self.run_since, self.run_peak = ts, shift
        elif share >= params.clear:
            self.run_peak = max(self.run_peak, shift)
        else:
            if ts - self.run_since <= params.burst_s:
                self.shift_tail = max(self.shift_tail, self.run_peak)
            self.run_since = None
        decay = math.exp(-params.tail_rate * (1.0 - params.tail_p))
        self.shift_tail = max(self.shift_tail * decay, NORMAL_TAIL)

    def _count_repeat(self, same: bool, params: DetectorParams, rate: float) -> None:
        a = rate / min(self.baseline.n + 1, params.repeat_memory)
        self.repeat += a * (float(same) - self.repeat)
