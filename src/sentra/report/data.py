"""Gather a report model from the stores' public methods.

A rollout report reads the stored rollout and every one of its decisions (the audit), the
gate and weight series the controller recorded while it ran, and the gate and judge
evidence of the newest decision that carries any. A node report summarises the host's
series (CPU, memory, disks, GPUs when there are any) over a window, with the ingest
counters and the checkpoint's recent alerts when the caller has them. Only protocols are
used (``get``/``decisions`` of the rollout records, ``history`` of the telemetry store),
so a PostgreSQL backend fills the same model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sentra.events import Labels
from sentra.report.model import Chart, Line, Marker, Report, Table
from sentra.rollout.gates import fmt
from sentra.rollout.machine import TERMINAL, Phase, RolloutState
from sentra.rollout.spec import GateSpec, RolloutSpec, spec_from_json
from sentra.store.base import HistoryResult, QueryError, SeriesPoints, UnknownSeries
from sentra.store.sqlite.rollouts import StoredDecision, StoredRollout

GATE_SERIES = "sentra.rollout.gate.value"  # what the controller records (controller.py)
WEIGHT_SERIES = "sentra.rollout.weight"
MAX_DECISIONS = 5000  # the timeline of a report; older ones are counted, not printed
MAX_TIMELINE_ROWS = 60
POINTS = 400  # per chart line: plenty for a chart 9 cm wide
MAX_WINDOW_S = 366 * 86400.0
_BAD_KINDS = frozenset({"rollback", "rolled_back", "abort", "aborted", "fail", "failed"})
_MARK_KINDS = _BAD_KINDS | {"start", "step", "promote", "promoted", "pause", "hold"}


class ReportNotFound(LookupError):
    """There is no such rollout."""


class ReportWindowError(ValueError):
    """The time window of a node report cannot be used (the message says why)."""


class RolloutRecords(Protocol):
    """The part of a rollout store that reports read."""

    def get(self, name: str) -> StoredRollout | None: ...

    def decisions(
        self, name: str, *, limit: int = 100, before_id: int | None = None
    ) -> list[StoredDecision]: ...


class History(Protocol):
    """The part of a telemetry store that reports read."""

    def history(
        self,
        name: str,
        labels: Labels,
        start: float,
        end: float,
        *,
        granularity: float | None = None,
        limit: int = 1000,
        now: float,
    ) -> HistoryResult: ...


def utc(ts: float) -> str:
    """``2025-12-01 18:00:00 UTC``: reports are read elsewhere and later, so never local."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _series(
    telemetry: History | None, name: str, labels: Labels, start: float, end: float, now: float
) -> list[SeriesPoints]:
    if telemetry is None:
        return []
    try:
        result = telemetry.history(name, labels, start, end, limit=POINTS, now=now)
    except (UnknownSeries, QueryError):
        return []
    return [s for s in result.series if s.ts]


def _finite(values: Sequence[float]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


# ----------------------------------------------------------------------------- rollouts


def gate_stamp(status: str) -> str:
    """A gate's status as the stamp printed next to it."""
    return {
        "pass": "PASS",
        "breach": "FAIL",
        "fail": "FAIL",
        "hold": "HOLD",
        "inconclusive": "NO DATA",
    }.get(status, "NO DATA")


def rollout_stamp(phase: Phase) -> str:
    if phase is Phase.PROMOTED:
        return "PASS"
    if phase in TERMINAL:
        return "FAIL"
    return "IN PROGRESS"


def threshold_text(gate: GateSpec) -> str:
    parts = []
    if gate.max is not None:
        parts.append(f"≤ {fmt(gate.max, gate.query)}")
    if gate.min is not None:
        parts.append(f"≥ {fmt(gate.min, gate.query)}")
    return " and ".join(parts) or "—"


def all_decisions(records: RolloutRecords, name: str) -> tuple[list[StoredDecision], bool]:
    """Every decision oldest first (up to MAX_DECISIONS), and whether older ones were cut."""
    out: list[StoredDecision] = []
    before: int | None = None
    while len(out) < MAX_DECISIONS:
        page = records.decisions(name, limit=min(1000, MAX_DECISIONS - len(out)), before_id=before)
        out.extend(page)
        if len(page) < 1000:
            return list(reversed(out)), False
        before = page[-1].id
    return list(reversed(out)), True


def _evidence(decisions: Sequence[StoredDecision]) -> tuple[list[dict[str, Any]], Any, str]:
    """The gates and judge of the newest decision that carries evidence, and which one."""
    for d in reversed(decisions):
        if d.evidence.get("gates") or d.evidence.get("judge"):
            where = f"as of the {d.kind} decision at {utc(d.ts)}"
            return list(d.evidence.get("gates") or []), d.evidence.get("judge"), where
    return [], None, ""


def _worst(gate: GateSpec, points: list[SeriesPoints], measured: Any) -> float | None:
    """The worst value the gate saw: its recorded series and the decisive measurement."""
    extra = [float(measured)] if isinstance(measured, int | float) else []
    if gate.max is not None:
        values = _finite([v for p in points for v in p.max] + extra)
        return max(values) if values else None
    values = _finite([v for p in points for v in p.min] + extra)
    return min(values) if values else None


def _value(v: Any, query: str) -> str:
    if v is None:
        return "—"
    try:
        return fmt(float(v), query)
    except (TypeError, ValueError):
        return str(v)


def _gates_table(
    spec: RolloutSpec,
    evidence: list[dict[str, Any]],
    series: Mapping[str, list[SeriesPoints]],
    where: str,
) -> Table:
    by_name = {str(g.get("name")): g for g in evidence}
    rows = []
    for gate in spec.all_gates:
        seen = by_name.get(gate.name, {})
        status = str(seen.get("status", "")) if seen else ""
        samples = seen.get("samples")
        rows.append(
            (
                gate.name,
                gate.query,
                threshold_text(gate),
                _value(seen.get("value"), gate.query),
                _value(_worst(gate, series.get(gate.name, []), seen.get("value")), gate.query),
                f"{int(samples):,}" if isinstance(samples, int | float) else "—",
                gate_stamp(status) if status else "NO DATA",
            )
        )
    title = "Gates" + (f" ({where})" if where else " (never evaluated)")
    return Table(
        title=title,
        columns=("gate", "query", "threshold", "measured", "worst seen", "samples", "result"),
        rows=tuple(rows),
        stamp_column=6,
        empty="this rollout has no threshold gates",
    )


def _judge_table(judge: Mapping[str, Any]) -> Table:
    score = judge.get("score")
    title = (
        f"Judge ({judge.get('mode', '?')}, alpha {judge.get('alpha', '?')}): "
        f"{judge.get('verdict', '?')}" + (f", score {score}" if score is not None else "")
    )
    rows = tuple(
        (
            str(m.get("name", "")),
            str(m.get("canary_n", "—")),
            str(m.get("baseline_n", "—")),
            str(m.get("explanation", "")),
            gate_stamp(str(m.get("verdict", ""))),
        )
        for m in judge.get("metrics", [])
        if isinstance(m, Mapping)
    )
    return Table(
        title=title,
        columns=("metric", "canary n", "baseline n", "explanation", "result"),
        rows=rows,
        stamp_column=4,
        empty="the judge reported no metrics",
    )


def _weights_text(w: Mapping[str, Any]) -> str:
    text = f"{w.get('stable', 0)}/{w.get('canary', 0)}"
    return text + (f"/{w['baseline']}" if w.get("baseline") else "")


def _timeline(decisions: Sequence[StoredDecision], cut: bool) -> Table:
    shown = list(decisions)[-MAX_TIMELINE_ROWS:]
    rows = tuple(
        (
            utc(d.ts),
            d.kind,
            d.actor,
            f"{d.from_phase} → {d.to_phase}",
            _weights_text(d.weights),
            d.reason,
        )
        for d in shown
    )
    older = len(decisions) - len(shown)
    title = "Decision timeline"
    if older or cut:
        title += f" (the last {len(shown)}; older decisions are in the audit)"
    return Table(
        title=title,
        columns=("time", "kind", "actor", "phase", "stable/canary", "reason"),
        rows=rows,
        empty="no decisions yet",
    )


def _markers(decisions: Sequence[StoredDecision]) -> tuple[Marker, ...]:
    return tuple(
        Marker(d.ts, d.kind, bad=d.kind in _BAD_KINDS) for d in decisions if d.kind in _MARK_KINDS
    )


def rollout_report(
    records: RolloutRecords,
    telemetry: History | None,
    name: str,
    *,
    now: float,
) -> Report:
    """The KPI report of one rollout; ReportNotFound when there is none of that name."""
    stored = records.get(name)
    if stored is None:
        raise ReportNotFound(name)
    spec = spec_from_json(stored.spec_json)
    state = RolloutState.from_json(stored.state)
    decisions, cut = all_decisions(records, name)
    gates, judge, where = _evidence(decisions)
    start = stored.created_at
    end = max(stored.updated_at, start + 1.0) if state.phase in TERMINAL else now
    pad = max(5.0, (end - start) * 0.03)
    t1, t2 = start - pad, end + pad
    gate_series = {
        g.name: _series(telemetry, GATE_SERIES, {"rollout": name, "gate": g.name}, t1, t2, now)
        for g in spec.all_gates
    }
    markers = _markers(decisions)
    charts = [
        Chart(
            title=f"{g.name}: {g.query} ({threshold_text(g)})",
            lines=tuple(
                Line(p.labels.get("gate", g.name), tuple(p.ts), tuple(p.avg))
                for p in gate_series[g.name]
            ),
            threshold=g.max if g.max is not None else g.min,
            threshold_label="threshold",
            markers=markers,
        )
        for g in spec.all_gates
    ]
    weights = _series(telemetry, WEIGHT_SERIES, {"rollout": name}, t1, t2, now)
    charts.append(
        Chart(
            title="Traffic split (% per arm)",
            lines=tuple(
                Line(p.labels.get("arm", "?"), tuple(p.ts), tuple(p.avg))
                for p in sorted(weights, key=lambda p: p.labels.get("arm", ""))
            ),
            unit="%",
            markers=markers,
        )
    )
    t = spec.target
    steps = " → ".join(f"{s.weight}%" + (" (manual)" if s.manual else "") for s in spec.steps)
    facts = [
        (
            "service",
            f"{t.service}: {t.stable} → {t.canary}"
            + (f" (baseline {t.baseline})" if t.baseline else ""),
        ),
        ("phase", f"{state.phase.value} (step {state.step_index + 1} of {len(spec.steps)})"),
        ("message", state.message or "—"),
        ("steps", steps),
        (
            "analysis",
            f"every {spec.analysis.interval:g} s over {spec.window:g} s; roll back "
            f"after {spec.analysis.consecutive_breaches_to_rollback} breach(es) in a row",
        ),
        ("weights now", f"stable {state.weights.stable}% · canary {state.weights.canary}%"),
        ("actuator", spec.actuator.type),
        ("started", utc(stored.created_at)),
        ("last change", utc(stored.updated_at)),
        ("decisions", f"{len(decisions)}" + (" (more in the audit)" if cut else "")),
    ]
    if spec.description:
        facts.insert(0, ("description", spec.description))
    tables = [_gates_table(spec, gates, gate_series, where)]
    if isinstance(judge, Mapping):
        tables.append(_judge_table(judge))
    elif spec.judge is not None:
        tables.append(
            Table(
                title=f"Judge ({spec.judge.mode})",
                columns=("metric",),
                rows=(),
                empty="the judge has not given a verdict yet",
            )
        )
    verdict = rollout_stamp(state.phase)
    return Report(
        kind="rollout",
        subject=name,
        title=f"Rollout {name}",
        generated_at=now,
        start=start,
        end=end,
        verdict=verdict,
        verdict_reason=f"{state.phase.value}: {state.message}"
        if state.message
        else state.phase.value,
        facts=tuple(facts),
        tables=tuple(tables),
        charts=tuple(charts),
        timeline=_timeline(decisions, cut),
    )


# ----------------------------------------------------------------------------- the node


@dataclass(frozen=True)
class NodeMetric:
    """One host series family in the node report."""

    name: str
    title: str
    unit: str = "%"  # "%": a 0..1 ratio shown as percent; "B/s", "°C", "" as they are
    labels: tuple[tuple[str, str], ...] = ()
    label_key: str = ""  # which label tells the series apart in the table and the legend
    chart: bool = False


NODE_METRICS = (
    NodeMetric("system.cpu.utilization", "CPU", labels=(("cpu", "total"),), chart=True),
    NodeMetric("system.cpu.load_average.1m", "load (1 min)", unit=""),
    NodeMetric("system.memory.utilization", "memory", chart=True),
    NodeMetric("system.paging.utilization", "swap"),
    NodeMetric("system.filesystem.utilization", "disk", label_key="mountpoint", chart=True),
    NodeMetric("system.disk.io.rate", "disk I/O", unit="B/s", label_key="device"),
    NodeMetric("system.network.io.rate", "network", unit="B/s", label_key="device"),
    NodeMetric("gpu.utilization", "GPU", label_key="gpu", chart=True),
    NodeMetric("gpu.memory.utilization", "GPU memory", label_key="gpu", chart=True),
    NodeMetric("gpu.temperature", "GPU temperature", unit="°C", label_key="gpu"),
)
MAX_PER_METRIC = 6  # series per metric in the table (disks, NICs, GPUs)


def _num(v: float, unit: str) -> str:
    if unit == "%":
        return f"{v * 100:.1f}%"
    if unit == "B/s":
        for step, suffix in ((1e9, "GB/s"), (1e6, "MB/s"), (1e3, "kB/s")):
            if abs(v) >= step:
                return f"{v / step:.1f} {suffix}"
        return f"{v:.0f} B/s"
    if unit:
        return f"{v:.1f} {unit}"
    return f"{v:.2f}"


def _summary_row(metric: NodeMetric, p: SeriesPoints) -> tuple[str, ...] | None:
    avg, lo, hi = _finite(p.avg), _finite(p.min), _finite(p.max)
    if not avg:
        return None
    which = p.labels.get(metric.label_key, "") if metric.label_key else ""
    if metric.name.endswith(".io.rate"):
        which = f"{which} {p.labels.get('direction', '')}".strip()
    return (
        metric.title,
        which or "—",
        _num(min(lo or avg), metric.unit),
        _num(sum(avg) / len(avg), metric.unit),
        _num(max(hi or avg), metric.unit),
        _num(avg[-1], metric.unit),
    )


def _alert_time(a: Mapping[str, Any]) -> float:
    """When an alert (alerts/engine.py's shape) fired, or began breaching."""
    for key in ("fired_at", "started_at", "ts"):
        value = a.get(key)
        if isinstance(value, int | float):
            return float(value)
    return 0.0


def _alert_what(a: Mapping[str, Any]) -> str:
    rule, series = str(a.get("rule", "")), str(a.get("series", ""))
    return f"{rule} on {series}" if rule and series else rule or series


def node_report(
    telemetry: History,
    *,
    start: float,
    end: float,
    now: float,
    host: str,
    ingest: Mapping[str, Any] | None = None,
    alerts: Sequence[Mapping[str, Any]] = (),
    metrics: Sequence[NodeMetric] = NODE_METRICS,
) -> Report:
    """The KPI report of the node over [start, end] (unix seconds)."""
    for what, value in (("from", start), ("to", end)):
        if not math.isfinite(value) or abs(value) > 1e11:
            raise ReportWindowError(f"'{what}' must be a finite number of unix seconds")
    if end <= start:
        raise ReportWindowError(f"'to' ({utc(end)}) must be after 'from' ({utc(start)})")
    if end - start > MAX_WINDOW_S:
        raise ReportWindowError("the window is longer than a year; pick a shorter one")
    rows: list[tuple[str, ...]] = []
    charts: list[Chart] = []
    for metric in metrics:
        found = _series(telemetry, metric.name, dict(metric.labels), start, end, now)
        found = sorted(found, key=lambda p: sorted(p.labels.items()))[:MAX_PER_METRIC]
        rows.extend(r for r in (_summary_row(metric, p) for p in found) if r is not None)
        if metric.chart and found:
            charts.append(
                Chart(
                    title=f"{metric.title} ({metric.name})",
                    lines=tuple(
                        Line(
                            p.labels.get(metric.label_key, metric.title)
                            if metric.label_key
                            else metric.title,
                            tuple(p.ts),
                            tuple(p.avg),
                        )
                        for p in found
                    ),
                    unit="%" if metric.unit == "%" else metric.unit,
                    scale=100.0 if metric.unit == "%" else 1.0,
                )
            )
    facts = [("host", host), ("window", f"{utc(start)} → {utc(end)}")]
    for key, value in (ingest or {}).items():
        facts.append((f"ingest: {key}", str(value)))
    alert_rows = tuple(
        (
            utc(when),
            str(a.get("severity", "")),
            str(a.get("state", "")),
            _alert_what(a),
            str(a.get("summary", "")),
        )
        for a, when in ((a, _alert_time(a)) for a in alerts)
        if start <= when <= end
    )
    critical = [r for r in alert_rows if r[1] in ("critical", "error")]
    verdict = "FAIL" if critical else "PASS"
    reason = (
        f"{len(alert_rows)} alert(s) in the window, {len(critical)} critical"
        if alert_rows
        else "no alerts in the window"
    )
    return Report(
        kind="node",
        subject=host,
        title=f"Node {host}",
        generated_at=now,
        start=start,
        end=end,
        verdict=verdict,
        verdict_reason=reason,
        facts=tuple(facts),
        tables=(
            Table(
                title="Host metrics over the window",
                columns=("metric", "series", "min", "mean", "max", "last"),
                rows=tuple(rows),
                empty="no host samples in this window",
            ),
        ),
        charts=tuple(charts),
        timeline=Table(
            title="Alerts",
            columns=("time", "severity", "state", "rule / series", "summary"),
            rows=alert_rows,
            empty="no alerts recorded in this window",
        ),
    )
