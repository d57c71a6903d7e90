"""The sequential judge: false rollbacks <= alpha over many looks, detection, rules, words."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sentra.analysis import ContinuousData, CountData, JudgeMetric, judge
from sentra.analysis.judge import judge_metric

ERRORS = JudgeMetric("errors", "count", critical=True)
LATENCY = JudgeMetric("latency", "continuous", floor_pct=5.0, critical=True)


def _lat(rng: np.random.Generator, n: int, scale: float = 1.0) -> np.ndarray:
    return rng.lognormal(math.log(0.1), 0.5, n) * scale


def test_healthy_error_counts_are_rolled_back_at_most_alpha_over_twenty_looks():
    rng = np.random.default_rng(2024)
    alpha, runs, looks, per_look = 0.01, 2000, 20, 200
    c = np.cumsum(rng.binomial(per_look, 0.01, (runs, looks)), axis=1)
    b = np.cumsum(rng.binomial(per_look, 0.01, (runs, looks)), axis=1)
    rolled_back = 0
    for run in range(runs):
        for i in range(looks):
            n = float((i + 1) * per_look)
            data = CountData(float(c[run, i]), n, float(b[run, i]), n)
            if judge([(ERRORS, data)], alpha=alpha).verdict == "fail":
                rolled_back += 1
                break
    assert rolled_back / runs <= alpha


def test_the_same_harness_catches_a_fixed_sample_test_checked_at_every_look():
    """A one-sided z-test at 1 % checked 20 times rolls back far more than 1 %: the harness
    above can tell an anytime-valid test from one that is not."""
    rng = np.random.default_rng(2024)
    runs, looks, per_look = 2000, 20, 200
    c = np.cumsum(rng.binomial(per_look, 0.01, (runs, looks)), axis=1)
    b = np.cumsum(rng.binomial(per_look, 0.01, (runs, looks)), axis=1)
    n = per_look * np.arange(1, looks + 1)
    pooled = (c + b) / (2 * n)
    se = np.sqrt(np.maximum(pooled * (1 - pooled) * 2 / n, 1e-12))
    z = (c - b) / n / se
    assert (z > 2.326).any(axis=1).mean() > 0.02


def test_healthy_latency_is_rolled_back_at_most_alpha_over_repeated_looks():
    rng = np.random.default_rng(77)
    alpha, runs, rolled_back = 0.05, 300, 0
    metric = JudgeMetric("latency", "continuous", floor_pct=0.0)
    for _ in range(runs):
        c, b = _lat(rng, 1000), _lat(rng, 1000)
        for n in range(100, 1001, 100):
            if judge([(metric, ContinuousData(c[:n], b[:n]))], alpha=alpha).verdict == "fail":
                rolled_back += 1
                break
    assert rolled_back / runs <= alpha


def test_doubled_error_rate_fails_with_the_numbers_in_the_explanation():
    v = judge([(ERRORS, CountData(200, 10_000, 100, 10_000))])
    assert v.verdict == "fail"
    m = v.metrics[0]
    assert (m.verdict, m.rule) == ("fail", "cs-beyond-floor")
    assert m.effect == pytest.approx(2.0)
    assert m.interval is not None and 1.0 < m.interval[0] < 2.0 < m.interval[1]
    assert m.e_value is not None and m.e_value >= 2 / 0.01
    for text in ("2% (200 of 10,000)", "1% (100 of 10,000)", "rate ratio 2", "fail"):
        assert text in m.explanation
    assert "critical metric errors failed" in v.explanation


def test_uniform_latency_shift_fails_on_the_quantile_ratio():
    rng = np.random.default_rng(1)
    v = judge([(LATENCY, ContinuousData(_lat(rng, 2000, 1.5), _lat(rng, 2000)))])
    m = v.metrics[0]
    assert v.verdict == "fail" and m.rule == "e-value>=1/alpha"
    assert m.effect == pytest.approx(1.5, rel=0.1)
    assert m.interval is not None and m.interval[0] > 1.05
    assert "median" in m.explanation and "1.05" in m.explanation


def test_tail_only_regression_is_caught_on_the_p95_with_the_median_unchanged():
    rng = np.random.default_rng(3)
    z = rng.standard_normal(6000)
    tail = np.exp(math.log(0.1) + 0.5 * z + np.where(z > 0, math.log(1.5) * z / 1.645, 0.0))
    v = judge([(LATENCY, ContinuousData(tail, _lat(rng, 6000)))])
    m = v.metrics[0]
    assert v.verdict == "fail"
    assert m.stats["median_ratio"] == pytest.approx(1.0, abs=0.05)
    assert "p95 ratio" in m.explanation


def test_an_increase_under_the_floor_never_fails_and_passes_once_the_cs_is_inside_it():
    rng = np.random.default_rng(8)
    floor = JudgeMetric("latency", "continuous", floor_pct=20.0, critical=True)
    c, b = _lat(rng, 20_000, 1.03), _lat(rng, 20_000)
    early = judge([(floor, ContinuousData(c[:50], b[:50]))])
    late = judge([(floor, ContinuousData(c, b))])
    assert early.verdict == "inconclusive"
    assert late.verdict == "pass" and late.metrics[0].rule == "cs-within-floor"
    assert late.score == 100.0


def test_a_count_metric_passes_when_its_cs_rules_out_an_increase_beyond_the_floor():
    loose = JudgeMetric("errors", "count", floor_pct=50.0)
    v = judge([(loose, CountData(1000, 100_000, 1000, 100_000))])
    assert v.verdict == "pass" and v.metrics[0].interval is not None
    assert v.metrics[0].interval[1] < 1.5


def test_decrease_direction_fails_on_a_drop_and_ignores_a_rise():
    throughput = JudgeMetric("success", "count", direction="decrease", critical=True)
    assert judge([(throughput, CountData(400, 10_000, 800, 10_000))]).verdict == "fail"
    assert judge([(throughput, CountData(1600, 10_000, 800, 10_000))]).verdict != "fail"


def test_either_direction_fails_both_ways():
    both = JudgeMetric("errors", "count", direction="either", critical=True)
    assert judge([(both, CountData(400, 10_000, 800, 10_000))]).verdict == "fail"
    assert judge([(both, CountData(1600, 10_000, 800, 10_000))]).verdict == "fail"


def test_too_few_samples_is_not_judged_and_a_must_have_metric_blocks_pass():
    rng = np.random.default_rng(6)
    loose = JudgeMetric("errors", "count", floor_pct=50.0)
    picky = JudgeMetric("latency", "continuous", min_samples=500, must_have_data=True)
    data = ContinuousData(_lat(rng, 100), _lat(rng, 100))
    v = judge([(loose, CountData(1000, 100_000, 1000, 100_000)), (picky, data)])
    assert v.metrics[1].verdict == "nodata" and v.metrics[1].rule == "too-few-samples"
    assert "fewer than 500" in v.metrics[1].explanation
    assert v.verdict == "inconclusive" and "must-have metric latency" in v.explanation
    optional = JudgeMetric("latency", "continuous", min_samples=500)
    assert judge([(loose, CountData(1000, 100_000, 1000, 100_000)), (optional, data)]).verdict == (
        "pass"
    )


def test_missing_data_is_nodata_and_left_out_of_the_score():
    loose = JudgeMetric("errors", "count", floor_pct=50.0)
    v = judge([(loose, CountData(1000, 100_000, 1000, 100_000)), (LATENCY, None)])
    assert [m.verdict for m in v.metrics] == ["pass", "nodata"]
    assert v.metrics[1].rule == "no-data"
    assert (v.verdict, v.score) == ("pass", 100.0)
    nothing = judge([(LATENCY, None), (ERRORS, CountData(0, 0, 0, 0))])
    assert nothing.verdict == "inconclusive" and "no metric had data" in nothing.explanation


def test_a_transient_spike_in_both_arms_does_not_roll_back():
    """10 s of x3 latency and x10 errors in both arms; a static threshold would breach."""
    rng = np.random.default_rng(12)
    rolled_back = 0
    for _ in range(40):
        t_c, t_b = rng.uniform(0, 60, 3000), rng.uniform(0, 60, 3000)
        spike_c, spike_b = (t_c > 20) & (t_c < 30), (t_b > 20) & (t_b < 30)
        lat_c = _lat(rng, 3000) * np.where(spike_c, 3.0, 1.0)
        lat_b = _lat(rng, 3000) * np.where(spike_b, 3.0, 1.0)
        err_c = rng.random(3000) < np.where(spike_c, 0.1, 0.01)
        err_b = rng.random(3000) < np.where(spike_b, 0.1, 0.01)
        for t in range(10, 61, 10):
            c, b = t_c < t, t_b < t
            items = [
                (ERRORS, CountData(err_c[c].sum(), c.sum(), err_b[b].sum(), b.sum())),
                (LATENCY, ContinuousData(lat_c[c], lat_b[b])),
            ]
            if judge(items).verdict == "fail":
                rolled_back += 1
                break
    assert rolled_back == 0


def test_histogram_input_gives_the_same_verdict_as_raw_input_binned_the_same():
    rng = np.random.default_rng(13)
    c, b = _lat(rng, 3000, 2.5), _lat(rng, 3000)
    edges = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0]
    cc = np.bincount(np.searchsorted(edges, c), minlength=len(edges) + 1)
    bc = np.bincount(np.searchsorted(edges, b), minlength=len(edges) + 1)
    from_raw = judge([(LATENCY, ContinuousData(c, b, edges=edges))])
    from_hist = judge(
        [(LATENCY, ContinuousData(edges=edges, canary_counts=cc, baseline_counts=bc))]
    )
    assert from_raw.to_json() == from_hist.to_json()
    assert from_hist.verdict == "fail"


def test_a_non_critical_fail_lowers_the_score_and_fails_only_with_half_the_metrics():
    soft = JudgeMetric("errors", "count")
    loose = JudgeMetric("requests_ok", "count", floor_pct=50.0)
    bad, fine = CountData(200, 10_000, 100, 10_000), CountData(1000, 100_000, 1000, 100_000)
    one_of_three = judge([(soft, bad), (loose, fine), (loose, fine)])
    assert one_of_three.verdict == "inconclusive"
    assert one_of_three.score == pytest.approx(200 / 3)
    assert "non-critical errors failed" in one_of_three.explanation
    one_of_two = judge([(soft, bad), (loose, fine)])
    assert (one_of_two.verdict, one_of_two.score) == ("fail", 50.0)


def test_alpha_is_split_over_the_metrics_of_the_call():
    v = judge([(ERRORS, CountData(10, 1000, 10, 1000)), (LATENCY, None)], alpha=0.02)
    assert v.metrics[0].stats["alpha"] == pytest.approx(0.01)


def test_verdict_to_json_is_strict_json_with_null_for_unbounded_ends():
    v = judge([(ERRORS, CountData(5, 1000, 0, 1000)), (LATENCY, None)])
    text = json.dumps(v.to_json(), allow_nan=False)
    body = json.loads(text)
    assert body["metrics"][0]["interval"][1] is None  # no baseline errors: no upper end
    assert body["metrics"][0]["effect"] is None
    assert body["mode"] == "sequential" and body["alpha"] == 0.01


def test_bad_input_is_refused_with_a_message_that_names_the_metric():
    with pytest.raises(ValueError, match="more events than trials"):
        judge([(ERRORS, CountData(5, 4, 0, 10))])
    with pytest.raises(ValueError, match="'errors' is count, got continuous"):
        judge([(ERRORS, ContinuousData([1.0], [1.0]))])
    with pytest.raises(ValueError, match="alpha"):
        judge([(ERRORS, CountData(0, 1, 0, 1))], alpha=0.0)


def test_judge_metric_is_usable_alone_at_a_given_alpha():
    m = judge_metric(ERRORS, CountData(300, 10_000, 100, 10_000), 0.001)
    assert m.verdict == "fail" and m.stats["threshold_e"] == pytest.approx(1 / (0.9 * 0.001))


def test_healthy_heavy_tailed_canaries_under_a_shared_spike_are_rolled_back_at_most_alpha():
    """Student-t(3) log-latencies, a 10 s x3 latency and x10 error spike in both arms, a 1:3
    traffic split, judged every 10 s: the whole judge (both metrics) stays under alpha."""
    rng = np.random.default_rng(41)
    alpha, runs, rolled_back = 0.05, 150, 0
    for _ in range(runs):
        t_c, t_b = np.sort(rng.uniform(0, 60, 600)), np.sort(rng.uniform(0, 60, 1800))
        start = rng.uniform(5, 45)

        def arm(t: np.ndarray, start: float = start) -> tuple[np.ndarray, np.ndarray]:
            spike = (t > start) & (t < start + 10)
            lat = np.exp(math.log(0.1) + 0.5 * rng.standard_t(3, t.size))
            err = rng.random(t.size) < np.where(spike, 0.1, 0.01)
            return lat * np.where(spike, 3.0, 1.0), err

        (lat_c, err_c), (lat_b, err_b) = arm(t_c), arm(t_b)
        for t in range(10, 61, 10):
            c, b = t_c < t, t_b < t
            items = [
                (ERRORS, CountData(err_c[c].sum(), c.sum(), err_b[b].sum(), b.sum())),
                (LATENCY, ContinuousData(lat_c[c], lat_b[b])),
            ]
            if judge(items, alpha=alpha).verdict == "fail":
                rolled_back += 1
                break
    assert rolled_back / runs <= alpha


def test_a_count_fail_is_the_e_value_reaching_its_threshold():
    for k in range(0, 80, 4):
        m = judge_metric(ERRORS, CountData(k, 5000, 20, 5000), 0.005)
        reached = m.e_value is not None and m.e_value >= m.stats["threshold_e"] * (1 - 1e-6)
        assert (m.verdict == "fail") == reached, k
