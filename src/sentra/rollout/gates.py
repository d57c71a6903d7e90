"""Threshold gates: a value from a source against a bound, with a declared no-data policy.

Pure: the controller hands in what the source answered; this module says pass, breach,
hold or inconclusive, and explains it in a sentence.
"""

from __future__ import annotations

import math

from sentra.rollout.machine import GateStatus
from sentra.rollout.spec import GateSpec

_NAMES = {
    "latency_p50_ms": "p50 latency",
    "latency_p90_ms": "p90 latency",
    "latency_p95_ms": "p95 latency",
    "latency_p99_ms": "p99 latency",
    "latency_mean_ms": "mean latency",
    "error_rate_pct": "error rate",
    "request_rate": "request rate",
    "log_error_ratio_pct": "share of error logs",
    "metric:consumer_lag:max": "consumer lag",
    "metric:staleness_ms:max": "staleness",
}


def _unit(query: str) -> str:
    if query.endswith("_pct"):
        return "%"
    if query.endswith("_ms") or query.endswith("_ms:max") or query.startswith("latency"):
        return " ms"
    if query == "request_rate":
        return "/s"
    return ""


def fmt(value: float, query: str = "") -> str:
    if math.isinf(value):
        return "∞"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"
    return text + _unit(query)


def describe(gate: GateSpec) -> str:
    return _NAMES.get(gate.query, gate.name)


def evaluate(
    gate: GateSpec,
    value: float | None,
    samples: int,
    *,
    version: str,
    window: float,
    previous_breaches: int = 0,
    error: str = "",
) -> GateStatus:
    """The gate's status for one evaluation. ``error``: the source could not answer
    (that counts as no data: a dead source never passes silently)."""
    what = describe(gate)
    bounds = []
    if gate.max is not None:
        bounds.append(f"≤ {fmt(gate.max, gate.query)}")
    if gate.min is not None:
        bounds.append(f"≥ {fmt(gate.min, gate.query)}")
    bound_text = " and ".join(bounds)
    op = "<=" if gate.max is not None else ">="
    bound = gate.max if gate.max is not None else gate.min
    nodata = (
        bool(error)
        or value is None
        or (isinstance(value, float) and math.isnan(value))
        or samples < gate.min_samples
    )
    if nodata:
        status = {"pass": "pass", "fail": "breach"}.get(gate.no_data, gate.no_data)
        if error:
            why = f"the source failed ({error})"
        elif value is None:
            why = "no data"
        else:
            why = f"only {samples} samples (needs {gate.min_samples})"
        explanation = (
            f"{what} of {version}: {why} over the last {window:.0f} s; "
            f"no-data policy {gate.no_data!r}"
        )
        return GateStatus(
            name=gate.name,
            status=status,
            value=None if value is None or math.isnan(value) else value,
            samples=samples,
            op=op,
            bound=bound,
            no_data=gate.no_data,
            nodata=True,
            source=gate.source,
            query=gate.query,
            explanation=explanation,
            breaches=previous_breaches + (1 if status == "breach" else 0),
        )
    assert value is not None
    over = gate.max is not None and value > gate.max
    under = gate.min is not None and value < gate.min
    status = "breach" if over or under else "pass"
    shown = fmt(value, gate.query)
    of = f" ({samples:,} samples)" if samples else ""
    if status == "breach":
        side = (
            f"above the bound of {fmt(gate.max, gate.query)}"
            if over and gate.max is not None
            else (f"below the bound of {fmt(gate.min or 0.0, gate.query)}")
        )
        explanation = f"{what} of {version} is {shown} over the last {window:.0f} s{of}, {side}"
    else:
        explanation = (
            f"{what} of {version} is {shown} over the last {window:.0f} s{of}, within {bound_text}"
        )
    return GateStatus(
        name=gate.name,
        status=status,
        value=value,
        samples=samples,
        op=op,
        bound=bound,
        no_data=gate.no_data,
        nodata=False,
        source=gate.source,
        query=gate.query,
        explanation=explanation,
        breaches=previous_breaches + 1 if status == "breach" else 0,
    )
