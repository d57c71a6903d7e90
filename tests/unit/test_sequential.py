"""The anytime-valid building blocks: coverage at every look, not just at one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sentra.analysis import sequential as sq


def test_share_cs_contains_the_estimate_and_narrows_with_more_data():
    small = sq.bernoulli_cs(30, 100, 0.01)
    large = sq.bernoulli_cs(3000, 10_000, 0.01)
    assert small.lo < 0.3 < small.hi
    assert large.lo < 0.3 < large.hi
    assert (large.hi - large.lo) < (small.hi - small.lo) / 5


def test_share_cs_bounds_are_where_the_bayes_factor_reaches_one_over_alpha():
    cs = sq.bernoulli_cs(40, 100, 0.01)
    threshold = math.log(100)
    assert sq.log_bf(40, 100, cs.lo) >= threshold > sq.log_bf(40, 100, cs.lo + 1e-6)
    assert sq.log_bf(40, 100, cs.hi) >= threshold > sq.log_bf(40, 100, cs.hi - 1e-6)


def test_share_cs_covers_the_true_share_at_every_one_of_twenty_looks():
    rng = np.random.default_rng(11)
    alpha, runs, looks, per_look = 0.05, 2000, 20, 25
    labels = rng.random((runs, looks * per_look)) < 0.3
    cum = np.cumsum(labels, axis=1)[:, per_look - 1 :: per_look]
    missed = 0
    for run in cum:
        for i, x in enumerate(run):
            cs = sq.bernoulli_cs(float(x), float((i + 1) * per_look), alpha)
            if not cs.lo <= 0.3 <= cs.hi:
                missed += 1
                break
    assert missed / runs <= alpha


def test_all_zero_baseline_is_detected_after_a_handful_of_canary_errors():
    """Equal traffic, no baseline errors: how many canary errors until the ratio's CS > 1."""
    needed = next(
        k for k in range(1, 100) if sq.rate_ratio_cs(k, 10_000, 0, 10_000, 0.005).lo > 1.0
    )
    assert needed == 10  # documented in docs/judge.md (alpha 0.5 % for the metric)
    assert sq.rate_ratio_cs(needed - 1, 10_000, 0, 10_000, 0.005).lo <= 1.0


def test_rate_ratio_cs_contains_the_true_ratio_and_excludes_one_for_a_doubling():
    cs = sq.rate_ratio_cs(400, 20_000, 200, 20_000, 0.01)
    assert cs.lo < 2.0 < cs.hi
    assert cs.lo > 1.0
    assert cs.estimate == pytest.approx(2.0)


def test_count_e_value_crosses_its_threshold_exactly_when_the_cs_clears_the_bound():
    crossed = 0
    for k in range(0, 60):
        cs = sq.rate_ratio_cs(k, 5000, 10, 5000, 0.01)
        log_e = sq.count_log_e(k, 10, cs, 1.0, upward=True)
        assert (cs.lo > 1.0) == (log_e >= math.log(sq.count_threshold(0.01)) - 1e-6), k
        crossed += cs.lo > 1.0
    assert 0 < crossed < 60


def test_rank_bounds_cover_the_true_quantile_at_every_look():
    rng = np.random.default_rng(5)
    alpha, runs = 0.05, 400
    missed = 0
    for _ in range(runs):
        x = rng.standard_normal(400)
        for n in range(20, 401, 20):
            k_lo, k_hi = sq.rank_bounds(n, 0.95, alpha)
            below = int(np.sum(x[:n] <= 1.6448536269514722))  # k(q_p) at the true p95
            if not k_lo <= below <= k_hi:
                missed += 1
                break
    assert missed / runs <= alpha


def test_equality_e_value_stays_small_under_h0_and_grows_under_a_shift():
    rng = np.random.default_rng(2)
    same = sq.grid_counts(rng.lognormal(0, 0.5, 5000), rng.lognormal(0, 0.5, 5000))
    moved = sq.grid_counts(rng.lognormal(0.2, 0.5, 5000), rng.lognormal(0, 0.5, 5000))
    occ_same = sq.occupied(*same, n_edges=sq.GRID_CELLS - 1)
    occ_moved = sq.occupied(*moved, n_edges=sq.GRID_CELLS - 1)
    e_same = sq.equality_log_e(occ_same.canary, occ_same.baseline, occ_same.n_edges, occ_same.gaps)
    e_moved = sq.equality_log_e(
        occ_moved.canary, occ_moved.baseline, occ_moved.n_edges, occ_moved.gaps
    )
    assert e_same < 0.0
    assert e_moved > math.log(1e6)


def test_equality_e_value_is_valid_when_a_spike_moves_both_arms_together():
    """Both arms' distribution changes over time (x3 for a while): the label stays Bernoulli."""
    rng = np.random.default_rng(9)
    alpha, runs, rejected = 0.05, 300, 0
    for _ in range(runs):
        t_c, t_b = rng.uniform(0, 60, 1200), rng.uniform(0, 60, 600)  # 2:1 traffic split
        c = rng.lognormal(0, 0.5, t_c.size) * np.where((t_c > 20) & (t_c < 30), 3.0, 1.0)
        b = rng.lognormal(0, 0.5, t_b.size) * np.where((t_b > 20) & (t_b < 30), 3.0, 1.0)
        for t in (10, 20, 25, 30, 40, 50, 60):
            occ = sq.occupied(*sq.grid_counts(c[t_c < t], b[t_b < t]), n_edges=sq.GRID_CELLS - 1)
            if sq.equality_log_e(occ.canary, occ.baseline, occ.n_edges, occ.gaps) >= math.log(
                1 / alpha
            ):
                rejected += 1
                break
    assert rejected / runs <= alpha


def test_binned_quantile_cs_is_never_narrower_than_the_raw_one():
    rng = np.random.default_rng(4)
    x = rng.lognormal(0, 0.5, 2000)
    edges = np.geomspace(0.05, 20, 40)
    counts = np.bincount(np.searchsorted(edges, x), minlength=edges.size + 1).astype(float)
    for raw, binned in zip(
        sq.quantile_cs_raw(x, (0.5, 0.95), 0.01),
        sq.quantile_cs_binned(edges, counts, (0.5, 0.95), 0.01),
        strict=True,
    ):
        assert binned.lo <= raw.lo <= raw.estimate <= raw.hi <= binned.hi
        assert binned.estimate == pytest.approx(raw.estimate, rel=0.1)


def test_one_sided_odds_mixture_bounds_hold_at_every_one_of_twenty_looks():
    from sentra.analysis import oddsmix as om

    rng = np.random.default_rng(21)
    alpha, runs, looks, per_look, share = 0.05, 1000, 20, 10, 0.3
    labels = rng.random((runs, looks * per_look)) < share
    cum = np.cumsum(labels, axis=1)[:, per_look - 1 :: per_look]
    theta = math.log(share / (1 - share))
    below = above = 0
    n = per_look * np.arange(1, looks + 1)
    up, down = om.ERROR_UP, om.ERROR_UP.flipped()
    for run in cum:
        pairs = list(zip(run.tolist(), n.tolist(), strict=True))
        if any(om.bound(x, k, alpha, up) > theta for x, k in pairs):
            below += 1  # a lower bound above the truth
        if any(om.bound(x, k, alpha, down) < theta for x, k in pairs):
            above += 1
    assert below / runs <= alpha and above / runs <= alpha
    assert below + above > 0  # the bounds are not vacuous


def _shift_rejections(rng, alpha, runs, scale, floor, *, heavy=False, p=0.5):
    from sentra.analysis import quantile_test as qt

    rejected = 0
    for _ in range(runs):
        draw = rng.standard_t(3, (2, 800)) if heavy else rng.standard_normal((2, 800))
        c, b = np.exp(0.5 * draw[0]) * scale, np.exp(0.5 * draw[1])
        for n in range(80, 801, 80):
            cells = qt.RawCells.of(c[:n], b[:n])
            if qt.shift_log_e_raw(cells, p, floor, upward=True, alpha=alpha) >= math.log(1 / alpha):
                rejected += 1
                break
    return rejected / runs


def test_pooled_quantile_test_keeps_alpha_at_the_floor_over_ten_looks():
    """Canary exactly 5 % slower everywhere, floor 5 %: the boundary of H0, the hardest null."""
    rng = np.random.default_rng(31)
    assert _shift_rejections(rng, 0.05, 300, 1.05, 0.05) <= 0.05
    assert _shift_rejections(rng, 0.05, 300, 1.05, 0.05, heavy=True, p=0.95) <= 0.05


def test_pooled_quantile_test_detects_what_it_must():
    rng = np.random.default_rng(32)
    assert _shift_rejections(rng, 0.05, 40, 1.3, 0.05) == 1.0


def test_pooled_quantile_test_needs_less_data_than_two_confidence_sequences():
    """The old rule needed both arms' CSs to clear the floor; the pooled test multiplies."""
    from sentra.analysis import quantile_test as qt

    rng = np.random.default_rng(33)
    z = rng.standard_normal((2, 20_000))
    c = np.exp(0.5 * z[0] + np.where(z[0] > 0, math.log(1.2) * z[0] / 1.645, 0.0))
    b = np.exp(0.5 * z[1])

    def first(rule) -> int:
        return next(n for n in range(200, 20_001, 200) if rule(n))

    def two_cs(n: int) -> bool:
        (qc,) = sq.quantile_cs_raw(c[:n], (0.95,), 0.0025)
        (qb,) = sq.quantile_cs_raw(b[:n], (0.95,), 0.0025)
        return qc.lo / qb.hi > 1.05

    def pooled(n: int) -> bool:
        e = qt.shift_log_e_raw(qt.RawCells.of(c[:n], b[:n]), 0.95, 0.05, upward=True, alpha=0.0025)
        return e >= math.log(400)

    assert first(pooled) < 0.7 * first(two_cs)


def test_binned_shift_test_agrees_with_raw_values_on_the_same_cells():
    from sentra.analysis import quantile_test as qt

    rng = np.random.default_rng(34)
    c, b = rng.lognormal(0.4, 0.5, 3000), rng.lognormal(0.0, 0.5, 3000)
    edges = np.geomspace(0.05, 20, 60)
    cc = np.bincount(np.searchsorted(edges, c), minlength=edges.size + 1).astype(float)
    bc = np.bincount(np.searchsorted(edges, b), minlength=edges.size + 1).astype(float)
    binned = qt.shift_log_e_binned(edges, cc, bc, 0.5, 0.05, upward=True, alpha=0.005)
    raw = qt.shift_log_e_raw(qt.RawCells.of(c, b), 0.5, 0.05, upward=True, alpha=0.005)
    assert math.log(200) <= binned <= raw + 1e-9  # cells only lose information
