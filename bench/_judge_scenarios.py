"""Generated canary scenarios for bench/judge_quality.py (not a benchmark itself).

Each scenario is one 60 s canary step: per-request arrival times, latencies and error flags
for a canary and a baseline arm, plus the base values a static gate would be tuned to.

* traffic: Poisson arrivals, 20-100 requests/s per arm (the same rate in both arms), or
  about 1/s for the low-traffic classes;
* latency: lognormal, median 50-300 ms, log-sd 0.3-0.7; the heavy-tailed variant uses a
  Student-t(3) in log space (p99/p50 of about 10-40x);
* errors: base rate 0.2-2 % (log-uniform), independent per request;
* the transient spike: a 10 s interval starting at 5-45 s in which both arms get 3x
  latency and 10x errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

STEP_S = 60.0
Z95 = 1.6448536269514722
T3_95 = 2.3533634348018264  # 0.95 quantile of Student-t with 3 degrees of freedom


@dataclass(frozen=True)
class Arm:
    t: NDArray[np.float64]  # arrival times, sorted, in [0, STEP_S)
    latency: NDArray[np.float64]  # seconds
    error: NDArray[np.bool_]


@dataclass(frozen=True)
class Scenario:
    cls: str
    healthy: bool
    canary: Arm
    baseline: Arm
    base_error_rate: float  # the known healthy error rate (what a static gate is set from)
    base_p95: float  # the known healthy p95 latency


@dataclass(frozen=True)
class _Params:
    rate: float
    mu: float
    sigma: float
    p_err: float
    spike: tuple[float, float] | None


def _arm(
    rng: np.random.Generator,
    p: _Params,
    *,
    heavy: bool = False,
    err_mult: float = 1.0,
    p_err: float | None = None,
    lat_mult: float = 1.0,
    tail_p95: float = 1.0,
) -> Arm:
    n = int(rng.poisson(p.rate * STEP_S))
    t = np.sort(rng.uniform(0.0, STEP_S, n))
    z = rng.standard_t(3, n) if heavy else rng.standard_normal(n)
    log_lat = p.mu + p.sigma * z
    if tail_p95 != 1.0:  # stretch the upper half only: median unchanged, p95 x tail_p95
        log_lat += np.where(z > 0, math.log(tail_p95) * z / Z95, 0.0)
    latency = np.exp(log_lat) * lat_mult
    prob = np.full(n, p.p_err * err_mult if p_err is None else p_err)
    if p.spike is not None:
        hit = (t >= p.spike[0]) & (t < p.spike[1])
        latency = np.where(hit, latency * 3.0, latency)
        prob = np.where(hit, np.minimum(prob * 10.0, 1.0), prob)
    return Arm(t, latency, rng.random(n) < prob)


def _params(rng: np.random.Generator, *, low: bool = False, spike: bool = False) -> _Params:
    start = float(rng.uniform(5.0, 45.0))
    return _Params(
        rate=float(rng.uniform(0.8, 1.2)) if low else float(rng.uniform(20.0, 100.0)),
        mu=math.log(float(rng.uniform(0.05, 0.3))),
        sigma=float(rng.uniform(0.3, 0.7)),
        p_err=float(math.exp(rng.uniform(math.log(0.002), math.log(0.02)))),
        spike=(start, start + 10.0) if spike else None,
    )


Maker = Callable[[np.random.Generator], Scenario]


def _make(
    cls: str,
    healthy: bool,
    *,
    low: bool = False,
    spike: bool = False,
    heavy: bool = False,
    zero_baseline: bool = False,
    **canary: float,
) -> Maker:
    def make(rng: np.random.Generator) -> Scenario:
        p = _params(rng, low=low, spike=spike)
        if zero_baseline:
            sparse = float(math.exp(rng.uniform(math.log(0.003), math.log(0.01))))
            c = _arm(rng, p, p_err=sparse)
            b = _arm(rng, p, p_err=0.0)
            base = 0.0
        else:
            c = _arm(rng, p, heavy=heavy, **canary)  # type: ignore[arg-type]
            b = _arm(rng, p, heavy=heavy)
            base = p.p_err
        p95 = math.exp(p.mu + p.sigma * (T3_95 if heavy else Z95))
        return Scenario(cls, healthy, c, b, base, p95)

    return make


CLASSES: dict[str, tuple[bool, Maker]] = {
    "healthy": (True, _make("healthy", True)),
    "healthy_heavy_tail": (True, _make("healthy_heavy_tail", True, heavy=True)),
    "healthy_spike_both": (True, _make("healthy_spike_both", True, spike=True)),
    "low_traffic_healthy": (True, _make("low_traffic_healthy", True, low=True)),
    "errors_x1.5": (False, _make("errors_x1.5", False, err_mult=1.5)),
    "errors_x2": (False, _make("errors_x2", False, err_mult=2.0)),
    "errors_x5": (False, _make("errors_x5", False, err_mult=5.0)),
    "sparse_errors_zero_baseline": (
        False,
        _make("sparse_errors_zero_baseline", False, zero_baseline=True),
    ),
    "p95_plus20_same_median": (False, _make("p95_plus20_same_median", False, tail_p95=1.2)),
    "p95_plus50_same_median": (False, _make("p95_plus50_same_median", False, tail_p95=1.5)),
    "latency_shift_plus50": (False, _make("latency_shift_plus50", False, lat_mult=1.5)),
    "low_traffic_bad": (
        False,
        _make("low_traffic_bad", False, low=True, lat_mult=2.0, err_mult=5.0),
    ),
}


def generate(total: int, seed: int) -> list[Scenario]:
    """``total`` scenarios: 5/8 of them spread over the healthy classes, the rest over the bad.

    Healthy classes get more scenarios because the false-rollback rate (<= 1 %) needs them.
    """
    rng = np.random.default_rng(seed)
    healthy = [k for k, (h, _m) in CLASSES.items() if h]
    bad = [k for k, (h, _m) in CLASSES.items() if not h]
    per_healthy = max(1, round(total * 5 / 8 / len(healthy)))
    per_bad = max(1, round(total * 3 / 8 / len(bad)))
    out = []
    for name in healthy + bad:
        maker = CLASSES[name][1]
        for _ in range(per_healthy if name in healthy else per_bad):
            out.append(maker(rng))
    return out
