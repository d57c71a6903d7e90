"""Kayenta-compatible mode: its statistics, its score rules, and its two known failures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sentra.analysis import ContinuousData, CountData, JudgeMetric, KayentaThresholds, judge
from sentra.analysis.kayenta import hodges_lehmann, mann_whitney, weighted

ERRORS = JudgeMetric("errors", "count", critical=True)
LATENCY = JudgeMetric("latency", "continuous", floor_pct=5.0, critical=True)


def test_all_zero_baseline_with_sparse_canary_errors_passes_known_failure():
    """Known failure 1: 30 canary errors, none in the baseline, and Kayenta mode passes."""
    data = CountData(30, 10_000, 0, 10_000)
    k = judge([(ERRORS, data)], mode="kayenta")
    assert k.verdict == "pass"
    m = k.metrics[0]
    assert m.rule == "interval-contains-0" and m.interval == (0.0, 0.0)
    assert m.effect == math.inf  # the mean ratio is unbounded, and not consulted
    assert judge([(ERRORS, data)]).verdict == "fail"  # the sequential judge catches it


def test_canary_with_seventy_times_the_mean_can_pass_known_failure():
    """Known failure 2: a few huge canary values move neither the ranks nor the HL shift."""
    baseline = [0.0] * 95 + [1.0] * 5
    canary = [0.0] * 95 + [70.0] * 5
    metric = JudgeMetric("queue_depth", "continuous", critical=True)
    k = judge([(metric, ContinuousData(canary, baseline))], mode="kayenta")
    m = k.metrics[0]
    assert m.effect == pytest.approx(70.0)
    assert k.verdict == "pass" and m.rule == "interval-contains-0"
    assert "the effect size is not consulted" in m.explanation


def test_a_clear_latency_shift_is_classified_high_and_fails_the_run():
    rng = np.random.default_rng(1)
    c, b = rng.lognormal(0.4, 0.5, 500), rng.lognormal(0.0, 0.5, 500)
    k = judge([(LATENCY, ContinuousData(c, b))], mode="kayenta")
    m = k.metrics[0]
    assert (k.verdict, m.rule) == ("fail", "interval-high")
    assert m.interval is not None and m.interval[0] > 0
    assert m.stats["mann_whitney_z"] > 5
    assert "critical metric latency failed" in k.explanation


def test_a_high_whose_mean_ratio_is_within_the_floor_is_excused():
    rng = np.random.default_rng(2)
    c, b = rng.lognormal(0.03, 0.3, 20_000), rng.lognormal(0.0, 0.3, 20_000)
    loose = JudgeMetric("latency", "continuous", floor_pct=10.0)
    m = judge([(loose, ContinuousData(c, b))], mode="kayenta").metrics[0]
    assert (m.verdict, m.rule) == ("pass", "effect-within-allowed")


def test_score_thresholds_give_pass_marginal_and_fail():
    rng = np.random.default_rng(3)
    same = ContinuousData(rng.normal(10, 1, 300), rng.normal(10, 1, 300))
    worse = ContinuousData(rng.normal(12, 1, 300), rng.normal(10, 1, 300))
    soft = [JudgeMetric(f"m{i}", "continuous") for i in range(4)]
    th = KayentaThresholds(pass_score=75, marginal_score=50)

    def run(n_bad: int) -> str:
        items = [(m, worse if i < n_bad else same) for i, m in enumerate(soft)]
        return judge(items, mode="kayenta", kayenta=th).verdict

    assert [run(n) for n in range(4)] == ["pass", "pass", "inconclusive", "fail"]
    assert judge([(soft[0], worse), (soft[1], same)], mode="kayenta").score == 50.0


def test_hodges_lehmann_matches_the_brute_force_pairwise_differences():
    rng = np.random.default_rng(4)
    c, b = rng.normal(1.0, 1.0, 40), rng.normal(0.0, 1.0, 30)
    diffs = np.sort((c[:, None] - b[None, :]).ravel())
    est, lo, hi = hodges_lehmann(weighted(c), weighted(b), 0.95)
    assert est == pytest.approx(float(np.median(diffs)))
    k = math.floor(600 - 1.959963984540054 * math.sqrt(1200 * 71 / 12))
    assert lo == pytest.approx(diffs[k - 1]) and hi == pytest.approx(diffs[1200 - k])


def test_mann_whitney_u_counts_pairs_and_ties_count_half():
    u, z, p = mann_whitney(weighted([1.0, 2.0, 3.0]), weighted([2.0, 0.0]))
    # pairs (c > b): 1>0, 2>0, 3>0, 3>2 -> 4; the tie 2 == 2 counts 1/2
    assert u == 4.5
    assert 0.0 < p <= 1.0 and z > 0


def test_no_data_and_must_have_data_in_kayenta_mode():
    must = JudgeMetric("latency", "continuous", must_have_data=True)
    k = judge([(ERRORS, CountData(10, 1000, 10, 1000)), (must, None)], mode="kayenta")
    assert k.metrics[1].verdict == "nodata"
    assert k.verdict == "inconclusive" and "must-have metric latency" in k.explanation
    assert k.mode == "kayenta"
