"""The canary judge: per metric, canary against baseline, with anytime-valid sequential tests.

The judge is stateless and pure: each call gets the cumulative data of the current step and
answers pass / inconclusive / fail with an explanation per metric. Because every test is a
confidence sequence or an e-process (``sequential.py``), the probability of ever failing a
canary that is no worse than its floors stays <= alpha however often the caller looks; so the
controller may call it every few seconds and act on the first ``fail``.

Verdict rule (documented in docs/judge.md):

* ``fail``: a critical metric fails, or at least half of the judged metrics fail;
* ``pass``: every judged metric passes, at least one was judged, and no must-have metric
  lacks data;
* ``inconclusive`` otherwise (keep watching).

Score: 100 x (passes + inconclusive / 2) / judged metrics (metrics without data are not
judged). alpha is split evenly over the metrics of the call (Bonferroni).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from sentra.analysis import quantile_test as qt
from sentra.analysis import sequential as sq

if TYPE_CHECKING:
    from sentra.analysis.kayenta import KayentaThresholds

Direction = Literal["increase", "decrease", "either"]
Outcome = Literal["pass", "fail", "inconclusive"]
MetricOutcome = Literal["pass", "fail", "inconclusive", "nodata"]


@dataclass(frozen=True)
class JudgeMetric:
    """What to judge about one metric and when a change matters."""

    name: str
    kind: Literal["count", "continuous"]  # count: events/trials; continuous: latency etc.
    direction: Direction = "increase"  # which change is harmful
    floor_pct: float = 0.0  # a relative effect under this is ignored (5 = ignore < 5 %)
    critical: bool = False  # a fail on this metric fails the verdict at once
    must_have_data: bool = False  # no data (or < min_samples) keeps the verdict from pass
    min_samples: int = 0  # per arm: trials (count) or observations (continuous)
    quantiles: tuple[float, ...] = (0.5, 0.95)  # continuous: quantiles whose ratio is the effect


@dataclass(frozen=True)
class CountData:
    """Cumulative event and trial counts since the step's analysis began."""

    canary_events: float
    canary_trials: float
    baseline_events: float
    baseline_trials: float


@dataclass(frozen=True)
class ContinuousData:
    """Raw observations, or histogram cells (``edges`` = upper bounds, counts per cell).

    Counts may have one more entry than ``edges`` (the overflow cell above the last edge).
    Raw values given together with ``edges`` are binned on those edges first, so the two
    inputs give the same verdict.
    """

    canary: Sequence[float] = ()
    baseline: Sequence[float] = ()
    edges: Sequence[float] = ()
    canary_counts: Sequence[float] = ()
    baseline_counts: Sequence[float] = ()


def _json_number(x: float | None) -> float | None:
    """JSON has no inf/nan: unbounded or undefined numbers become null."""
    if x is None or not math.isfinite(x):
        return None
    return float(x)


@dataclass(frozen=True)
class MetricVerdict:
    """The judgement of one metric at one look, with the numbers behind it."""

    name: str
    verdict: MetricOutcome
    rule: str  # short id of the rule that fired
    explanation: str  # one or two sentences for a person
    canary_n: float
    baseline_n: float
    e_value: float | None
    effect: float | None  # ratio canary / baseline (1.0 = same)
    interval: tuple[float, float] | None  # confidence sequence of the effect at this look
    stats: dict[str, float] = field(default_factory=dict)
    critical: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verdict": self.verdict,
            "rule": self.rule,
            "explanation": self.explanation,
            "critical": self.critical,
            "canary_n": self.canary_n,
            "baseline_n": self.baseline_n,
            "e_value": _json_number(self.e_value),
            "effect": _json_number(self.effect),
            "interval": (
                None
                if self.interval is None
                else [_json_number(self.interval[0]), _json_number(self.interval[1])]
            ),
            "stats": {k: _json_number(v) for k, v in self.stats.items()},
        }


@dataclass(frozen=True)
class Verdict:
    """The judgement of a whole call: the verdict the controller acts on, and why."""

    verdict: Outcome
    score: float  # 0..100
    metrics: tuple[MetricVerdict, ...]
    explanation: str
    mode: str
    alpha: float

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "score": round(self.score, 2),
            "explanation": self.explanation,
            "mode": self.mode,
            "alpha": self.alpha,
            "metrics": [m.to_json() for m in self.metrics],
        }


Item = tuple[JudgeMetric, CountData | ContinuousData | None]


def judge(
    items: Sequence[Item],
    *,
    alpha: float = 0.01,
    mode: Literal["sequential", "kayenta"] = "sequential",
    kayenta: KayentaThresholds | None = None,
) -> Verdict:
    """Judge canary against baseline on every metric; alpha is for the whole call."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if mode == "kayenta":
        from sentra.analysis.kayenta import judge_kayenta  # kayenta builds on these types

        return judge_kayenta(items, alpha=alpha, thresholds=kayenta)
    if mode != "sequential":
        raise ValueError(f"unknown judge mode {mode!r}: use 'sequential' or 'kayenta'")
    alpha_m = alpha / max(len(items), 1)
    results = tuple(judge_metric(m, d, alpha_m) for m, d in items)
    return combine(items, results, mode="sequential", alpha=alpha)


def judge_metric(
    metric: JudgeMetric, data: CountData | ContinuousData | None, alpha: float
) -> MetricVerdict:
    """One metric at level alpha (the caller has already split the call's alpha)."""
    if data is None:
        return no_data(metric, "no-data", "no data reached the judge for this metric", 0, 0)
    if isinstance(data, CountData):
        if metric.kind != "count":
            raise ValueError(f"metric {metric.name!r} is {metric.kind}, got count data")
        return _judge_count(metric, data, alpha)
    if metric.kind != "continuous":
        raise ValueError(f"metric {metric.name!r} is {metric.kind}, got continuous data")
    return _judge_continuous(metric, data, alpha)


# --------------------------------------------------------------------------- shared pieces


def no_data(metric: JudgeMetric, rule: str, why: str, n_c: float, n_b: float) -> MetricVerdict:
    """The ``nodata`` verdict: not judged, and (must-have) keeps the run from passing."""
    tail = " It is a must-have metric, so the run cannot pass." if metric.must_have_data else ""
    text = f"{metric.name}: {why} (canary {fmt_n(n_c)}, baseline {fmt_n(n_b)}).{tail}"
    return MetricVerdict(
        metric.name, "nodata", rule, text, n_c, n_b, None, None, None, {}, metric.critical
    )


def _few(metric: JudgeMetric, n_c: float, n_b: float) -> MetricVerdict | None:
    if n_c <= 0 or n_b <= 0:
        return no_data(metric, "no-data", "one arm has no data yet", n_c, n_b)
    if min(n_c, n_b) < metric.min_samples:
        why = f"fewer than {metric.min_samples} samples per arm"
        return no_data(metric, "too-few-samples", why, n_c, n_b)
    return None


def bounds(metric: JudgeMetric) -> tuple[float, float]:
    """Ratios beyond which a change is harmful: (1 - floor, 1 + floor)."""
    f = max(metric.floor_pct, 0.0) / 100.0
    return max(1.0 - f, 0.0), 1.0 + f


def harmful_side(metric: JudgeMetric, lo: float, hi: float) -> bool:
    """True when the whole interval lies beyond the floor on a harmful side."""
    down, up = bounds(metric)
    inc = metric.direction in ("increase", "either") and lo > up
    dec = metric.direction in ("decrease", "either") and hi < down
    return inc or dec


def harmless(metric: JudgeMetric, lo: float, hi: float) -> bool:
    """True when the whole interval lies on the harmless side of every harmful floor."""
    down, up = bounds(metric)
    ok_inc = metric.direction == "decrease" or hi < up
    ok_dec = metric.direction == "increase" or lo > down
    return ok_inc and ok_dec


def floor_words(metric: JudgeMetric) -> str:
    down, up = bounds(metric)
    pct = fmt(metric.floor_pct)
    if metric.direction == "increase":
        return f"{fmt(up)} (an increase of {pct}% is tolerated)"
    if metric.direction == "decrease":
        return f"{fmt(down)} (a decrease of {pct}% is tolerated)"
    return f"[{fmt(down)}, {fmt(up)}] (a change of {pct}% either way is tolerated)"


def fmt(x: float | None) -> str:
    """Three significant digits; 'inf' / 'undefined' spelled out."""
    if x is None or math.isnan(x):
        return "undefined"
    if math.isinf(x):
        return "unbounded" if x > 0 else "-unbounded"
    if x == 0:
        return "0"
    if abs(x) >= 1e5 or abs(x) < 1e-3:
        return f"{x:.2e}"
    return f"{x:.3g}"


def fmt_n(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


def fmt_interval(lo: float, hi: float) -> str:
    return f"[{fmt(lo)}, {fmt(hi)}]"


def e_of(log_e: float) -> float:
    return math.inf if log_e > 700 else math.exp(log_e)


# --------------------------------------------------------------------------- count metrics


def _judge_count(metric: JudgeMetric, d: CountData, alpha: float) -> MetricVerdict:
    for v in (d.canary_events, d.canary_trials, d.baseline_events, d.baseline_trials):
        if v < 0 or not math.isfinite(v):
            raise ValueError(f"metric {metric.name!r}: counts must be finite and >= 0")
    if d.canary_events > d.canary_trials or d.baseline_events > d.baseline_trials:
        raise ValueError(f"metric {metric.name!r}: more events than trials")
    few = _few(metric, d.canary_trials, d.baseline_trials)
    if few is not None:
        return few
    side_alpha = alpha / 2 if metric.direction == "either" else alpha  # one test per side
    cs = sq.rate_ratio_cs(
        d.canary_events, d.canary_trials, d.baseline_events, d.baseline_trials, side_alpha
    )
    threshold = sq.count_threshold(side_alpha)
    down, up = bounds(metric)
    log_e_inc = sq.count_log_e(d.canary_events, d.baseline_events, cs, up, upward=True)
    log_e_dec = sq.count_log_e(d.canary_events, d.baseline_events, cs, down, upward=False)
    log_e = {"increase": log_e_inc, "decrease": log_e_dec}.get(
        metric.direction, max(log_e_inc, log_e_dec)
    )
    rate_c = d.canary_events / d.canary_trials
    rate_b = d.baseline_events / d.baseline_trials
    stats = {
        "canary_events": d.canary_events,
        "baseline_events": d.baseline_events,
        "canary_rate": rate_c,
        "baseline_rate": rate_b,
        "ratio_lo": cs.lo,
        "ratio_hi": cs.hi,
        "trials_share": cs.requests.estimate,
        "events_share": cs.events.estimate,
        "log_e": log_e,
        "threshold_e": threshold,
        "alpha": alpha,
    }
    level = f"{fmt(100 * (1 - side_alpha))}%"
    head = (
        f"{metric.name}: canary {fmt(100 * rate_c)}% ({fmt_n(d.canary_events)} of "
        f"{fmt_n(d.canary_trials)}) vs baseline {fmt(100 * rate_b)}% "
        f"({fmt_n(d.baseline_events)} of {fmt_n(d.baseline_trials)}); rate ratio "
        f"{fmt(cs.estimate)}, {level} confidence sequence {fmt_interval(cs.lo, cs.hi)}"
    )
    if harmful_side(metric, cs.lo, cs.hi):
        verdict: MetricOutcome = "fail"
        rule = "cs-beyond-floor"
        tail = (
            f". The whole interval is beyond the floor {floor_words(metric)}; e-value "
            f"{fmt(e_of(log_e))} >= {fmt(threshold)}, so the change is real: fail."
        )
    elif harmless(metric, cs.lo, cs.hi):
        verdict, rule = "pass", "cs-within-floor"
        tail = f". The whole interval is within the floor {floor_words(metric)}: pass."
    else:
        verdict, rule = "inconclusive", "cs-straddles-floor"
        tail = (
            f". The interval still reaches past the floor {floor_words(metric)} "
            f"(e-value {fmt(e_of(log_e))}, needs {fmt(threshold)}): keep watching."
        )
    effect = None if math.isnan(cs.estimate) else cs.estimate
    return MetricVerdict(
        metric.name,
        verdict,
        rule,
        head + tail,
        d.canary_trials,
        d.baseline_trials,
        e_of(log_e),
        effect,
        (cs.lo, cs.hi),
        stats,
        metric.critical,
    )


# --------------------------------------------------------------------------- continuous metrics


def _as_array(values: Sequence[float]) -> NDArray[np.float64]:
    a = np.asarray(values, dtype=np.float64)
    return a[np.isfinite(a)]


def _cells(edges: NDArray[np.float64], counts: Sequence[float], raw: Sequence[float]) -> Any:
    """Per-cell counts (len(edges) + 1 cells) from histogram counts or raw values."""
    if len(counts):
        c = np.asarray(counts, dtype=np.float64)
        if c.size == edges.size:
            c = np.append(c, 0.0)
        if c.size != edges.size + 1 or np.any(c < 0):
            raise ValueError("histogram counts need one per edge (plus an optional overflow)")
        return c
    x = _as_array(raw)
    idx = np.searchsorted(edges, x, side="left")  # (edges[i-1], edges[i]] -> i
    return np.bincount(idx, minlength=edges.size + 1).astype(np.float64)


def _judge_continuous(metric: JudgeMetric, d: ContinuousData, alpha: float) -> MetricVerdict:
    qs = tuple(metric.quantiles) or (0.5,)
    if any(not 0.0 < p < 1.0 for p in qs):
        raise ValueError(f"metric {metric.name!r}: quantiles must be in (0, 1)")
    alpha_q = alpha / (2 * len(qs))  # one CS per arm and quantile
    if len(d.edges):
        edges = np.asarray(d.edges, dtype=np.float64)
        if np.any(np.diff(edges) <= 0):
            raise ValueError(f"metric {metric.name!r}: histogram edges must increase")
        cc = _cells(edges, d.canary_counts, d.canary)
        bc = _cells(edges, d.baseline_counts, d.baseline)
        n_c, n_b = float(cc.sum()), float(bc.sum())
        few = _few(metric, n_c, n_b)
        if few is not None:
            return few
        occ = sq.occupied(cc, bc, n_edges=int(edges.size))
        q_c = sq.quantile_cs_binned(edges, cc, qs, alpha_q)
        q_b = sq.quantile_cs_binned(edges, bc, qs, alpha_q)

        def shift(p: float, f: float, upward: bool, a: float) -> float:
            return qt.shift_log_e_binned(edges, cc, bc, p, f, upward=upward, alpha=a)

    else:
        c, b = _as_array(d.canary), _as_array(d.baseline)
        n_c, n_b = float(c.size), float(b.size)
        few = _few(metric, n_c, n_b)
        if few is not None:
            return few
        gc, gb = sq.grid_counts(c, b)
        occ = sq.occupied(gc, gb, n_edges=sq.GRID_CELLS - 1)
        q_c = sq.quantile_cs_raw(c, qs, alpha_q)
        q_b = sq.quantile_cs_raw(b, qs, alpha_q)
        raw = qt.RawCells.of(c, b)

        def shift(p: float, f: float, upward: bool, a: float) -> float:
            return qt.shift_log_e_raw(raw, p, f, upward=upward, alpha=a)

    log_e = sq.equality_log_e(occ.canary, occ.baseline, occ.n_edges, occ.gaps)
    shifts = _shift_tests(metric, qs, alpha, shift)
    return _continuous_verdict(metric, alpha, n_c, n_b, log_e, q_c, q_b, shifts)


ShiftFn = Callable[[float, float, bool, float], float]


def _shift_tests(
    metric: JudgeMetric, qs: tuple[float, ...], alpha: float, shift: ShiftFn
) -> list[tuple[float, float]]:
    """Per quantile: (log e of the pooled quantile test, log of its threshold).

    alpha is split over the quantiles, and over the two sides for "either" (union bound):
    a harmful change needs only one quantile beyond the floor.
    """
    down, up = bounds(metric)
    sides = 2 if metric.direction == "either" else 1
    a = alpha / (len(qs) * sides)
    threshold = math.log(1.0 / a)
    out = []
    for p in qs:
        best = -math.inf
        if metric.direction in ("increase", "either"):
            best = shift(p, up - 1.0, True, a)
        if metric.direction in ("decrease", "either"):
            best = max(best, shift(p, 1.0 - down, False, a))
        out.append((best, threshold))
    return out


def _ratio(q_c: sq.QuantileCS, q_b: sq.QuantileCS) -> tuple[float, float, float]:
    est = sq.safe_ratio(q_c.estimate, q_b.estimate)
    lo = sq.safe_ratio(q_c.lo, q_b.hi)
    hi = sq.safe_ratio(q_c.hi, q_b.lo)
    return est, (0.0 if math.isnan(lo) else lo), (math.inf if math.isnan(hi) else hi)


def _qname(p: float) -> str:
    return "median" if p == 0.5 else f"p{fmt(100 * p)}"


def _continuous_verdict(
    metric: JudgeMetric,
    alpha: float,
    n_c: float,
    n_b: float,
    log_e: float,
    q_c: list[sq.QuantileCS],
    q_b: list[sq.QuantileCS],
    shifts: list[tuple[float, float]],
) -> MetricVerdict:
    ratios = [_ratio(c, b) for c, b in zip(q_c, q_b, strict=True)]
    stats: dict[str, float] = {"log_e": log_e, "threshold_e": 1.0 / alpha, "alpha": alpha}
    for c, b, (est, lo, hi), (s_log_e, s_thr) in zip(q_c, q_b, ratios, shifts, strict=True):
        key = _qname(c.p)
        stats.update(
            {
                f"canary_{key}": c.estimate,
                f"baseline_{key}": b.estimate,
                f"{key}_ratio": est,
                f"{key}_ratio_lo": lo,
                f"{key}_ratio_hi": hi,
                f"{key}_shift_log_e": s_log_e,
                f"{key}_shift_threshold_e": e_of(s_thr),
            }
        )
    beyond = [i for i, (s_log_e, s_thr) in enumerate(shifts) if s_log_e >= s_thr]
    rejects = log_e >= math.log(1.0 / alpha)
    down, up = bounds(metric)

    def badness(i: int) -> float:
        est = ratios[i][0]
        if math.isnan(est):
            return -math.inf
        inc = est - up if metric.direction != "decrease" else -math.inf
        dec = down - est if metric.direction != "increase" else -math.inf
        return max(inc, dec)

    if rejects and beyond:
        pick = max(beyond, key=lambda i: shifts[i][0] - shifts[i][1])
        verdict, rule = "fail", "e-value>=1/alpha"
    else:
        pick = max(range(len(ratios)), key=badness)
        if all(harmless(metric, lo, hi) for _e, lo, hi in ratios):
            verdict, rule = "pass", "cs-within-floor"
        elif rejects:
            verdict, rule = "inconclusive", "differs-within-floor"
        else:
            verdict, rule = "inconclusive", "cs-straddles-floor"
    est, lo, hi = ratios[pick]
    name = _qname(q_c[pick].p)
    s_e, s_thr = e_of(shifts[pick][0]), e_of(shifts[pick][1])
    level = f"{fmt(100 * (1 - alpha / (2 * len(ratios))))}%"
    parts = [
        f"{_qname(c.p)} {fmt(c.estimate)} vs {fmt(b.estimate)}"
        for c, b in zip(q_c, q_b, strict=True)
    ]
    head = (
        f"{metric.name}: canary vs baseline {', '.join(parts)} ({fmt_n(n_c)} vs {fmt_n(n_b)} "
        f"samples); {name} ratio {fmt(est)}, {level} confidence sequence {fmt_interval(lo, hi)}; "
        f"same-distribution e-value {fmt(e_of(log_e))} (rejects at {fmt(1 / alpha)})"
    )
    tails = {
        "e-value>=1/alpha": f". The distributions differ and the {name} is beyond the floor "
        f"{floor_words(metric)} (pooled {name} test e-value {fmt(s_e)} >= {fmt(s_thr)}): fail.",
        "cs-within-floor": f". Every quantile ratio is within the floor {floor_words(metric)}: "
        "pass.",
        "differs-within-floor": ". The distributions differ, but no quantile is yet clearly "
        f"beyond the floor {floor_words(metric)}: keep watching.",
        "cs-straddles-floor": f". Not yet clear against the floor {floor_words(metric)}: "
        "keep watching.",
    }
    return MetricVerdict(
        metric.name,
        verdict,  # type: ignore[arg-type]
        rule,
        head + tails[rule],
        n_c,
        n_b,
        e_of(log_e),
        None if math.isnan(est) else est,
        (lo, hi),
        stats,
        metric.critical,
    )


# --------------------------------------------------------------------------- the verdict


def combine(
    items: Sequence[Item],
    results: tuple[MetricVerdict, ...],
    *,
    mode: str,
    alpha: float,
) -> Verdict:
    """The sequential mode's verdict rule (module docstring) over per-metric verdicts."""
    judged = [r for r in results if r.verdict != "nodata"]
    fails = [r for r in judged if r.verdict == "fail"]
    passes = [r for r in judged if r.verdict == "pass"]
    missing = [m.name for (m, _d), r in zip(items, results, strict=True) if _missing(m, r)]
    n = len(judged)
    score = 100.0 * (len(passes) + 0.5 * (n - len(passes) - len(fails))) / n if n else 0.0
    critical = [r.name for r in fails if r.critical]
    verdict: Outcome
    if critical:
        verdict, why = "fail", f"critical metric {', '.join(critical)} failed"
    elif fails and 2 * len(fails) >= n:
        verdict = "fail"
        why = f"{len(fails)} of {n} judged metrics failed ({', '.join(r.name for r in fails)})"
    elif n and len(passes) == n and not missing:
        verdict, why = "pass", f"all {n} judged metrics rule out a harmful change"
    else:
        verdict = "inconclusive"
        bits = []
        if fails:
            bits.append(f"non-critical {', '.join(r.name for r in fails)} failed")
        if missing:
            bits.append(f"must-have metric {', '.join(missing)} has no data")
        if not n:
            bits.append("no metric had data to judge")
        waiting = [r.name for r in judged if r.verdict == "inconclusive"]
        if waiting:
            bits.append(f"not yet decided: {', '.join(waiting)}")
        why = "; ".join(bits) or "keep watching"
    text = f"{verdict}: {why} (score {score:.0f}/100, alpha {fmt(alpha)})."
    return Verdict(verdict, score, results, text, mode, alpha)


def _missing(metric: JudgeMetric, result: MetricVerdict) -> bool:
    return metric.must_have_data and result.verdict == "nodata"
