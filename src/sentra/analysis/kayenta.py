"""Kayenta-compatible judge mode: Mann-Whitney, a Hodges-Lehmann interval, a mean-ratio effect.

For users who know Kayenta's NetflixACAJudge: per metric, a fixed-sample Mann-Whitney U test
(normal approximation, tie-corrected) and the Hodges-Lehmann shift estimate with its
rank-based confidence interval; a metric is "high" or "low" when the interval excludes 0,
and a high/low whose mean ratio stays within the metric's floor is let through (Kayenta's
effect-size thresholds can only excuse, never condemn). Score = 100 x passing metrics /
judged metrics; a failing critical metric fails the run; score >= pass_score passes,
>= marginal_score is "marginal" (inconclusive here), below fails.

Known failures, kept on purpose and tested (tests/unit/test_kayenta.py), see docs/judge.md:

* an all-zero baseline with sparse canary errors passes: almost every pairwise difference is
  0, so the interval is [0, 0] and contains 0;
* a canary with 70x the baseline's mean can pass: the interval rule never looks at the
  effect size, and a few huge values move ranks (and the median difference) hardly at all.

The test is fixed-sample: consulted at every look, its false-rollback rate grows with the
number of looks (the benchmark measures by how much).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

from sentra.analysis.judge import (
    ContinuousData,
    CountData,
    Item,
    JudgeMetric,
    MetricOutcome,
    MetricVerdict,
    Outcome,
    Verdict,
    bounds,
    fmt,
    fmt_interval,
    fmt_n,
    no_data,
)

_HL_STEPS = 36  # bisection steps: the bracket shrinks to 2^-36 of the range, then snaps


@dataclass(frozen=True)
class KayentaThresholds:
    """Run score thresholds and the per-metric interval level (fixed-sample)."""

    pass_score: float = 75.0
    marginal_score: float = 50.0
    confidence: float = 0.98  # level of the Hodges-Lehmann interval of each metric


@dataclass(frozen=True)
class Weighted:
    """A sample as sorted distinct values with their multiplicities."""

    values: NDArray[np.float64]
    weights: NDArray[np.float64]

    @property
    def n(self) -> float:
        return float(self.weights.sum())

    @property
    def mean(self) -> float:
        return float(np.dot(self.values, self.weights) / self.n) if self.n else math.nan


def weighted(values: Sequence[float] | NDArray[np.float64]) -> Weighted:
    x = np.asarray(values, dtype=np.float64)
    v, w = np.unique(x[np.isfinite(x)], return_counts=True)
    return Weighted(v, w.astype(np.float64))


def _from_cells(edges: Sequence[float], counts: Sequence[float]) -> Weighted:
    """Histogram cells as values: each cell at its upper edge (the overflow at the last edge)."""
    e = np.asarray(edges, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    reps = np.append(e, e[-1])[: c.size]
    reps = np.where(np.isfinite(reps), reps, e[np.isfinite(e)][-1])
    keep = c > 0
    order = np.argsort(reps[keep], kind="stable")
    return Weighted(reps[keep][order], c[keep][order])


def samples(data: CountData | ContinuousData) -> tuple[Weighted, Weighted]:
    """Both arms as weighted samples; a count metric is one 0/1 value per trial."""
    if isinstance(data, CountData):

        def bern(events: float, trials: float) -> Weighted:
            return Weighted(np.array([0.0, 1.0]), np.array([trials - events, events]))

        return (
            bern(data.canary_events, data.canary_trials),
            bern(data.baseline_events, data.baseline_trials),
        )
    if len(data.edges) and len(data.canary_counts):
        return _from_cells(data.edges, data.canary_counts), _from_cells(
            data.edges, data.baseline_counts
        )
    return weighted(data.canary), weighted(data.baseline)


def mann_whitney(c: Weighted, b: Weighted) -> tuple[float, float, float]:
    """(U of the canary, z, two-sided p) with midranks and the tie-corrected variance."""
    vals = np.concatenate([c.values, b.values])
    wc = np.concatenate([c.weights, np.zeros(b.values.size)])
    wb = np.concatenate([np.zeros(c.values.size), b.weights])
    uniq, inv = np.unique(vals, return_inverse=True)
    tc = np.bincount(inv, weights=wc, minlength=uniq.size)
    tb = np.bincount(inv, weights=wb, minlength=uniq.size)
    t = tc + tb
    before = np.cumsum(t) - t
    midrank = before + (t + 1.0) / 2.0
    n_c, n_b = c.n, b.n
    total = n_c + n_b
    u = float(np.dot(midrank, tc)) - n_c * (n_c + 1.0) / 2.0
    ties = float(np.sum(t**3 - t))
    var = n_c * n_b / 12.0 * ((total + 1.0) - ties / (total * (total - 1.0)))
    if var <= 0:
        return u, 0.0, 1.0
    z = (u - n_c * n_b / 2.0) / math.sqrt(var)
    return u, z, math.erfc(abs(z) / math.sqrt(2.0))


def kth_differences(c: Weighted, b: Weighted, ks: Sequence[float]) -> list[float]:
    """The k-th smallest (1-based) pairwise differences c_i - b_j for several k at once.

    The n x m differences are never formed: a bisection on the value, for all k together,
    counts the pairs below each candidate with one ``searchsorted`` (b_j >= c_i - d), then
    snaps each bracket to the largest actual difference inside it (exact for discrete data).
    """
    cum_b = np.concatenate([[0.0], np.cumsum(b.weights)])
    k = np.asarray(ks, dtype=np.float64)
    lo = np.full(k.size, float(c.values[0] - b.values[-1]) * (1 + 1e-12) - 1e-300)
    hi = np.full(k.size, float(c.values[-1] - b.values[0]))

    def count_le(d: NDArray[np.float64]) -> NDArray[np.float64]:
        idx = np.searchsorted(b.values, c.values[None, :] - d[:, None], side="left")
        return (b.n - cum_b[idx]) @ c.weights

    for _ in range(_HL_STEPS):
        mid = 0.5 * (lo + hi)
        enough = count_le(mid) >= k
        hi = np.where(enough, mid, hi)
        lo = np.where(enough, lo, mid)
    idx = np.searchsorted(b.values, c.values[None, :] - hi[:, None], side="left")
    ok = idx < b.values.size
    diffs = np.where(ok, c.values[None, :] - b.values[np.minimum(idx, b.values.size - 1)], -np.inf)
    return [float(v) for v in diffs.max(axis=1)]


def hodges_lehmann(c: Weighted, b: Weighted, confidence: float) -> tuple[float, float, float]:
    """(shift estimate, lo, hi): median pairwise difference and its rank-based interval."""
    pairs = c.n * b.n
    half = pairs / 2.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    k = max(math.floor(half - z * math.sqrt(pairs * (c.n + b.n + 1.0) / 12.0)), 1)
    mid_lo, mid_hi, lo, hi = kth_differences(
        c, b, [math.ceil(half), math.floor(half) + 1, k, pairs - k + 1]
    )
    return 0.5 * (mid_lo + mid_hi), lo, hi


def kayenta_metric(
    metric: JudgeMetric, data: CountData | ContinuousData | None, confidence: float
) -> MetricVerdict:
    """Classify one metric as Kayenta's Mann-Whitney classifier would."""
    if data is None:
        return no_data(metric, "no-data", "no data reached the judge for this metric", 0, 0)
    c, b = samples(data)
    if c.n <= 0 or b.n <= 0:
        return no_data(metric, "no-data", "one arm has no data yet", c.n, b.n)
    if min(c.n, b.n) < metric.min_samples:
        why = f"fewer than {metric.min_samples} samples per arm"
        return no_data(metric, "too-few-samples", why, c.n, b.n)
    _u, z, p = mann_whitney(c, b)
    shift, lo, hi = hodges_lehmann(c, b, confidence)
    mean_c, mean_b = c.mean, b.mean
    effect = mean_c / mean_b if mean_b else (math.nan if mean_c == 0 else math.inf)
    down, up = bounds(metric)
    cls = "high" if lo > 0 else "low" if hi < 0 else "pass"
    harmful = (cls == "high" and metric.direction in ("increase", "either")) or (
        cls == "low" and metric.direction in ("decrease", "either")
    )
    verdict: MetricOutcome
    if not harmful:
        verdict = "pass"
        rule = "interval-contains-0" if cls == "pass" else f"interval-{cls}-harmless"
    elif (cls == "high" and effect <= up) or (cls == "low" and effect >= down):
        verdict, rule = "pass", "effect-within-allowed"
    else:
        verdict, rule = "fail", f"interval-{cls}"
    level = f"{fmt(100 * confidence)}%"
    text = (
        f"{metric.name}: canary mean {fmt(mean_c)} vs baseline {fmt(mean_b)} (ratio {fmt(effect)}; "
        f"{fmt_n(c.n)} vs {fmt_n(b.n)} samples); Mann-Whitney z {fmt(z)}, p {fmt(p)}; "
        f"Hodges-Lehmann shift {fmt(shift)}, {level} interval {fmt_interval(lo, hi)}"
    )
    text += {
        "interval-contains-0": ", which contains 0: pass (the effect size is not consulted).",
        "effect-within-allowed": f"; the mean ratio is within the allowed {metric.floor_pct}%: "
        "pass.",
        "interval-high": f"; the canary is higher ({cls}): fail.",
        "interval-low": f"; the canary is lower ({cls}): fail.",
    }.get(rule, f"; the canary is {cls}, which is harmless for this metric: pass.")
    stats = {
        "mann_whitney_z": z,
        "p_value": p,
        "hl_shift": shift,
        "hl_lo": lo,
        "hl_hi": hi,
        "canary_mean": mean_c,
        "baseline_mean": mean_b,
    }
    return MetricVerdict(
        metric.name,
        verdict,
        rule,
        text,
        c.n,
        b.n,
        None,
        None if math.isnan(effect) else effect,
        (lo, hi),
        stats,
        metric.critical,
    )


def judge_kayenta(
    items: Sequence[Item], *, alpha: float, thresholds: KayentaThresholds | None
) -> Verdict:
    """The Kayenta-compatible run: per-metric classification, then the score thresholds."""
    th = thresholds or KayentaThresholds()
    results = tuple(kayenta_metric(m, d, th.confidence) for m, d in items)
    judged = [r for r in results if r.verdict != "nodata"]
    passes = sum(r.verdict == "pass" for r in judged)
    score = 100.0 * passes / len(judged) if judged else 0.0
    critical = [r.name for r in judged if r.verdict == "fail" and r.critical]
    missing = [
        m.name
        for (m, _d), r in zip(items, results, strict=True)
        if m.must_have_data and r.verdict == "nodata"
    ]
    verdict: Outcome
    if critical:
        verdict, why = "fail", f"critical metric {', '.join(critical)} failed"
    elif not judged or missing:
        verdict = "inconclusive"
        why = f"must-have metric {', '.join(missing)} has no data" if missing else "no data"
    elif score >= th.pass_score:
        verdict, why = "pass", f"score {score:.0f} >= pass threshold {fmt(th.pass_score)}"
    elif score >= th.marginal_score:
        verdict, why = "inconclusive", f"marginal: score {score:.0f} >= {fmt(th.marginal_score)}"
    else:
        verdict, why = "fail", f"score {score:.0f} < marginal threshold {fmt(th.marginal_score)}"
    text = f"{verdict}: {why} ({passes} of {len(judged)} metrics pass; Kayenta-compatible mode)."
    return Verdict(verdict, score, results, text, "kayenta", alpha)
