"""A pooled, one-sided, anytime-valid two-sample test for a quantile ratio beyond a floor.

H0 (direction "increase", floor f): q_c(p) <= (1 + f) q_b(p), the canary's p-quantile is at
most 1 + f times the baseline's. The nuisance is the baseline's quantile T* = q_b(p). For a
candidate T, with k_b(v) = #{baseline <= v} and k_c(v) = #{canary <= v}:

    E_T = [1/2 U_b(#{baseline < T}) + 1/2 D_b(#{baseline <= T})] * D_c(k_c((1 + f) T))

where U, D are the one-sided odds-ratio mixtures of ``oddsmix`` at share p (U: "more than a
share p below", D: "less than p below"). At T = T*, #{baseline < T*} is Binomial with a share
<= p and #{baseline <= T*} one with a share >= p (exactly p for continuous data), so the
bracket is a test supermartingale; under H0 F_c((1 + f) T*) >= p, so D_c is one too; the two
arms are independent, so the product is one (in the merged order of arrivals). Hence
P(ever inf_T E_T >= 1/alpha) <= P(ever E_T* >= 1/alpha) <= alpha: rejecting when E_T is large
for EVERY T is valid whatever T* is. Each arm's uncertainty enters once, in one product,
instead of two confidence sequences that must each clear the floor (which needs about twice
the data). Direction "decrease" mirrors it: H0 q_c(p) >= (1 - f) q_b(p), canary factor
U_c(#{canary < (1 - f) T}).

T ranges over cells (lo_j, hi_j] of the baseline: between consecutive sorted raw values, or
histogram cells. Inside a cell #{baseline < T} >= k_b(lo_j) and #{baseline <= T} <= k_b(hi_j)
and the canary count is bounded by its value at the cell's far end, each in the direction
that makes E_T smaller, so the minimum over cells is a lower bound of inf_T E_T (exact for
raw values up to the canary's steps inside one baseline gap). Assumes i.i.d. observations in
each arm; the judge pairs it with the same-distribution e-process for shared time variation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sentra.analysis import oddsmix as om

Counter = Callable[[NDArray[np.float64]], NDArray[np.float64]]


_BASE_UP = om.QUANTILE_BASE_DOWN.flipped()
_CANARY_UP = om.QUANTILE_DOWN.flipped()
_MARGIN = math.log(100.0)  # values are exact up to 100x the threshold, bounded beyond


def _first(lo: int, hi: int, pred: Callable[[int], bool]) -> int:
    """The least k in [lo, hi] with pred(k) (pred monotone false -> true), hi + 1 if none."""
    if not pred(hi):
        return hi + 1
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def shift_log_e(
    cell_lo_count: NDArray[np.float64],
    cell_hi_count: NDArray[np.float64],
    canary_at_cell: Callable[[slice], NDArray[np.float64]],
    n_b: float,
    n_c: float,
    p: float,
    *,
    upward: bool,
    alpha: float,
) -> float:
    """log of min over baseline cells of the bound on E_T (module docstring).

    ``cell_lo_count[j]`` = #{baseline <= lo_j}, ``cell_hi_count[j]`` = #{baseline <= hi_j}
    (both non-decreasing in j), ``canary_at_cell(cells)``: for a slice of cells, the canary
    counts that bound the canary factor there (for "increase" an upper bound of
    #{canary <= (1 + f) T}, for "decrease" a lower bound of #{canary < (1 - f) T}).

    Speed: the canary factor is never below the weight of its null atom, and the baseline
    factor is at least half of U_b(lo count) (increasing in the count) and of D_b(hi count)
    (decreasing), so only a band of cells around the baseline's p-quantile can bring E_T
    under the threshold; the band's ends are found by bisection on the counts. Outside it
    the value is only known to exceed 100x the threshold, and is reported as that bound.
    """
    if n_b <= 0 or n_c <= 0:
        return 0.0
    theta = math.log(p / (1.0 - p))
    base_dn, base_up = om.QUANTILE_BASE_DOWN, _BASE_UP
    can = om.QUANTILE_DOWN if upward else _CANARY_UP
    floor = float(can.log_w[0])  # the r = 1 atom: the canary factor is never below this
    limit = math.log(1.0 / alpha) + _MARGIN - floor - math.log(0.5)
    n = round(n_b)
    k_up = _first(0, n, lambda k: om.log_mix1(k, n_b, theta, base_up) >= limit)
    k_dn = _first(0, n, lambda k: om.log_mix1(k, n_b, theta, base_dn) < limit)
    lo_i = int(np.searchsorted(cell_hi_count, k_dn, side="left"))
    hi_i = int(np.searchsorted(cell_lo_count, k_up, side="left"))
    outside = math.log(1.0 / alpha) + _MARGIN
    if hi_i <= lo_i:
        return outside
    sl = slice(lo_i, hi_i)
    lb = np.logaddexp(
        om.log_mix(cell_lo_count[sl], n_b, theta, base_up),
        om.log_mix(cell_hi_count[sl], n_b, theta, base_dn),
    ) + math.log(0.5)
    lc = om.log_mix(canary_at_cell(sl), n_c, theta, can)
    return min(float(np.min(lb + lc)), outside)


@dataclass(frozen=True)
class RawCells:
    """Both arms' raw values sorted, and the baseline's cells (x_(j), x_(j+1)] with counts."""

    canary: NDArray[np.float64]
    lo: NDArray[np.float64]
    hi: NDArray[np.float64]
    lo_count: NDArray[np.float64]
    hi_count: NDArray[np.float64]
    n_b: float

    @staticmethod
    def of(canary: NDArray[np.float64], baseline: NDArray[np.float64]) -> RawCells:
        b = np.sort(baseline)
        right = np.searchsorted(b, b, side="right").astype(np.float64)  # ties counted
        return RawCells(
            canary=np.sort(canary),
            lo=np.concatenate(([-np.inf], b)),
            hi=np.concatenate((b, [np.inf])),
            lo_count=np.concatenate(([0.0], right)),
            hi_count=np.concatenate((right, [float(b.size)])),
            n_b=float(b.size),
        )


def shift_log_e_raw(
    cells: RawCells, p: float, floor: float, *, upward: bool, alpha: float
) -> float:
    """``shift_log_e`` on raw values; floor f as a fraction (0.05 for 5 %)."""

    def at(sl: slice) -> NDArray[np.float64]:
        if upward:
            found = np.searchsorted(cells.canary, (1.0 + floor) * cells.hi[sl], side="right")
        else:
            found = np.searchsorted(cells.canary, (1.0 - floor) * cells.lo[sl], side="right")
        return found.astype(np.float64)

    return shift_log_e(
        cells.lo_count,
        cells.hi_count,
        at,
        cells.n_b,
        float(cells.canary.size),
        p,
        upward=upward,
        alpha=alpha,
    )


def shift_log_e_binned(
    edges: NDArray[np.float64],
    canary_cells: NDArray[np.float64],
    baseline_cells: NDArray[np.float64],
    p: float,
    floor: float,
    *,
    upward: bool,
    alpha: float,
) -> float:
    """``shift_log_e`` on histogram cells (cell j = (edges[j-1], edges[j]], last = overflow).

    The canary is only known at the edges, so its count is taken at the nearest edge on the
    side that makes the factor smaller: for "increase" the smallest edge >= (1 + f) hi_j
    (more canary values counted below), for "decrease" the largest edge <= (1 - f) lo_j.
    """
    cum_b = np.cumsum(baseline_cells)
    cum_c = np.cumsum(canary_cells)
    n_b, n_c = float(cum_b[-1]), float(cum_c[-1])
    lo_count = np.concatenate(([0.0], cum_b[:-1]))
    hi_count = cum_b.astype(np.float64)
    lo = np.concatenate(([-np.inf], edges))
    hi = np.concatenate((edges, [np.inf]))
    if upward:
        j = np.searchsorted(edges, (1.0 + floor) * hi, side="left")  # first edge >= target
        at = np.where(j < edges.size, cum_c[np.minimum(j, edges.size - 1)], n_c)
    else:
        j = np.searchsorted(edges, (1.0 - floor) * lo, side="right") - 1  # last edge <= target
        at = np.where(j >= 0, cum_c[np.maximum(j, 0)], 0.0)
    counts = at.astype(np.float64)
    return shift_log_e(
        lo_count, hi_count, lambda cells: counts[cells], n_b, n_c, p, upward=upward, alpha=alpha
    )
