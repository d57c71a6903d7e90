"""Sentra's own store as a telemetry source (spans, logs and metrics sent to this node).

The requests of an arm are the spans of ``target.service`` whose ``version`` is the arm's
version and whose kind is ``server`` (root spans when the window has no server span),
started in ``[window.start, window.end)``.

Scalar queries: ``request_rate`` (requests/s), ``error_rate_pct``, ``latency_p50_ms``,
``latency_p90_ms``, ``latency_p95_ms``, ``latency_p99_ms``, ``latency_mean_ms``,
``log_error_ratio_pct`` (log records at ERROR or worse, severity_number ≥ 17, out of all
the version's records) and ``metric:<name>[{k="v",k2!="v"}][:avg|max|min|last|sum|p95]``
over the time-series store. Counts: ``spans``, ``error_spans``, ``logs``, ``error_logs``.
Distribution: ``latency`` (raw durations in ms). Exemplars: failed requests newest first,
then the slowest.

SQLite reads run in a worker thread (asyncio.to_thread), each on that thread's own reader
connection, so a slow disk never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import numpy as np

from sentra.rollout.sources.base import (
    Arm,
    Counts,
    Distribution,
    Exemplar,
    Scalar,
    SourceError,
    Target,
    Window,
)
from sentra.rollout.sources.templates import expand
from sentra.store import telemetry as sql
from sentra.store.base import QueryError, SeriesPoints, UnknownSeries
from sentra.store.sqlite import SqliteStore

SPAN_QUERIES = (
    "request_rate",
    "error_rate_pct",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_mean_ms",
)
LOG_QUERIES = ("log_error_ratio_pct",)
COUNT_NAMES = ("spans", "error_spans", "logs", "error_logs")
AGGREGATIONS = ("avg", "max", "min", "last", "sum", "p95")
_QUANTILE = {"latency_p50_ms": 0.5, "latency_p90_ms": 0.9, "latency_p95_ms": 0.95,
             "latency_p99_ms": 0.99}  # fmt: skip
_METRIC = re.compile(r"^metric:(?P<name>[^{}\s]+?)(?P<labels>\{.*\})?(?::(?P<agg>[a-z0-9]+))?$")
_MATCHER = re.compile(
    r'\s*(?P<key>[A-Za-z_][A-Za-z0-9_.\-]*)\s*(?P<op>!=|=)\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*(?:,|$)'
)
_UNESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}


@dataclass(frozen=True)
class MetricQuery:
    """A parsed ``metric:<name>{k="v",…}:<agg>`` query."""

    name: str
    equal: dict[str, str]
    not_equal: dict[str, str]
    aggregation: str


def parse_metric_query(query: str) -> MetricQuery:
    m = _METRIC.match(query.strip())
    if m is None:
        raise SourceError(
            f"{query!r} is not a metric query: write metric:<name>, optionally with "
            '{label="value",…} and :avg|max|min|last|sum|p95',
            retryable=False,
        )
    name, text, agg = m.group("name"), m.group("labels"), m.group("agg")
    if agg is not None and agg not in AGGREGATIONS:
        # A name with a colon in it (a recording rule's "job:rate5m") keeps its colon.
        if text is None:
            name, agg = f"{name}:{agg}", None
        else:
            raise SourceError(
                f"{query!r}: unknown aggregation {agg!r} (known: {', '.join(AGGREGATIONS)})",
                retryable=False,
            )
    equal: dict[str, str] = {}
    not_equal: dict[str, str] = {}
    if text is not None:
        inner, pos = text[1:-1], 0
        while inner[pos:].strip():
            mm = _MATCHER.match(inner, pos)
            if mm is None:
                raise SourceError(
                    f"{query!r}: cannot read the label matchers at {inner[pos:]!r}; write "
                    '{key="value", other!="value"}',
                    retryable=False,
                )
            value = _UNESCAPE.sub(lambda e: _ESCAPES.get(e.group(1), e.group(1)), mm["value"])
            (equal if mm["op"] == "=" else not_equal)[mm["key"]] = value
            pos = mm.end()
    return MetricQuery(name, equal, not_equal, agg or "avg")


def _narrows(key: str, labels: dict[str, str], q: MetricQuery) -> bool:
    """Whether the arm's value of ``key`` must match: the series has the label and the query
    does not name it itself."""
    return key in labels and key not in q.equal and key not in q.not_equal


def arm_series(
    store: SqliteStore, q: MetricQuery, arm: Arm, target: Target, window: Window, what: str
) -> list[SeriesPoints]:
    """The series matching ``q`` in the window that belong to ``arm`` (worker thread): the
    arm's identity (service, version, the target's labels) narrows series that carry it,
    unless the query names that label itself. ``what`` names the query in errors."""
    try:
        result = store.history(
            q.name,
            q.equal,
            window.start,
            max(window.end - 0.001, window.start),
            limit=100_000,
            now=window.end,
        )
    except UnknownSeries:
        return []
    except QueryError as exc:
        raise SourceError(f"{what!r}: {exc}", retryable=False) from None
    narrow = {"service": target.service, "version": target.version(arm), **target.labels}
    return [
        s
        for s in result.series
        if all(s.labels.get(k) != v for k, v in q.not_equal.items())
        and all(s.labels[k] == v for k, v in narrow.items() if _narrows(k, s.labels, q))
        and s.ts
    ]


class BuiltinSource:
    kind = "builtin"

    def __init__(self, name: str, store: SqliteStore) -> None:
        self.name = name
        self.store = store

    # ------------------------------------------------------------------ scalars

    async def scalar(
        self,
        query: str,
        arm: Arm,
        target: Target,
        window: Window,
        *,
        samples_query: str | None = None,
    ) -> Scalar:
        text = expand(query, arm, target, window).strip()
        version = target.version(arm)
        start_ms, end_ms = window.start * 1000.0, window.end * 1000.0
        if text in SPAN_QUERIES:
            return await self._span_scalar(text, target.service, version, window)
        if text in LOG_QUERIES:
            n, errors = await asyncio.to_thread(
                self.store.read,
                sql.log_summary,
                target.service,
                version,
                round(start_ms),
                round(end_ms),
            )
            return Scalar(100.0 * errors / n if n else None, n, text)
        if text.startswith("metric:"):
            return await asyncio.to_thread(
                self._metric, parse_metric_query(text), arm, target, window, text
            )
        known = ", ".join((*SPAN_QUERIES, *LOG_QUERIES, "metric:<name>"))
        raise SourceError(f"unknown builtin query {text!r} (known: {known})", retryable=False)

    async def _span_scalar(self, query: str, service: str, version: str, window: Window) -> Scalar:
        start_ms, end_ms = window.start * 1000.0, window.end * 1000.0
        if query.startswith("latency_p"):
            durations = await asyncio.to_thread(
                self.store.read, sql.span_durations, service, version, start_ms, end_ms
            )
            if not durations:
                return Scalar(None, 0, query)
            value = float(np.quantile(np.asarray(durations), _QUANTILE[query]))
            return Scalar(value, len(durations), query)
        s = await asyncio.to_thread(
            self.store.read, sql.span_summary, service, version, start_ms, end_ms
        )
        if query == "request_rate":
            rate = s.count / window.seconds if window.seconds > 0 else None
            return Scalar(rate, s.count, query)
        if not s.count:
            return Scalar(None, 0, query)
        if query == "error_rate_pct":
            return Scalar(100.0 * s.errors / s.count, s.count, query)
        return Scalar(s.total_ms / s.count, s.count, query)  # latency_mean_ms

    def _metric(
        self, q: MetricQuery, arm: Arm, target: Target, window: Window, text: str
    ) -> Scalar:
        """Aggregate every point of the matching series in the window (worker thread)."""
        series = arm_series(self.store, q, arm, target, window, text)
        if not series:
            return Scalar(None, 0, text)
        n = sum(len(s.ts) for s in series)
        agg = q.aggregation
        if agg == "last":
            value = float(sum(s.avg[-1] for s in series))
        elif agg == "max":
            value = float(max(max(s.max) for s in series))
        elif agg == "min":
            value = float(min(min(s.min) for s in series))
        else:
            values = np.concatenate([np.asarray(s.avg, dtype=np.float64) for s in series])
            if agg == "sum":
                value = float(values.sum())
            elif agg == "p95":
                value = float(np.quantile(values, 0.95))
            else:
                value = float(values.mean())
        return Scalar(value, n, text)

    # ------------------------------------------------------------------- counts

    async def counts(
        self, events: str, trials: str, arm: Arm, target: Target, window: Window
    ) -> Counts:
        names = [expand(q, arm, target, window).strip() for q in (events, trials)]
        for name in names:
            if name not in COUNT_NAMES:
                raise SourceError(
                    f"unknown builtin count {name!r} (known: {', '.join(COUNT_NAMES)})",
                    retryable=False,
                )
        version = target.version(arm)
        totals = await asyncio.to_thread(self._counts, names, target.service, version, window)
        return Counts(totals[names[0]], totals[names[1]], f"{names[0]} / {names[1]}")

    def _counts(
        self, names: list[str], service: str, version: str, window: Window
    ) -> dict[str, float]:
        out: dict[str, float] = {}
        start_ms, end_ms = window.start * 1000.0, window.end * 1000.0
        if {"spans", "error_spans"} & set(names):
            s = self.store.read(sql.span_summary, service, version, start_ms, end_ms)
            out["spans"], out["error_spans"] = float(s.count), float(s.errors)
        if {"logs", "error_logs"} & set(names):
            n, errors = self.store.read(
                sql.log_summary, service, version, round(start_ms), round(end_ms)
            )
            out["logs"], out["error_logs"] = float(n), float(errors)
        return out

    # ------------------------------------------------------ distribution, exemplars

    async def distribution(
        self, query: str, arm: Arm, target: Target, window: Window
    ) -> Distribution:
        text = expand(query, arm, target, window).strip()
        if text != "latency":
            raise SourceError(
                f"unknown builtin distribution {text!r} (known: latency)", retryable=False
            )
        durations = await asyncio.to_thread(
            self.store.read,
            sql.span_durations,
            target.service,
            target.version(arm),
            window.start * 1000.0,
            window.end * 1000.0,
        )
        return Distribution(values=tuple(durations), query=text)

    async def exemplars(
        self, arm: Arm, target: Target, window: Window, *, limit: int = 5
    ) -> list[Exemplar]:
        rows = await asyncio.to_thread(
            self.store.read,
            sql.example_spans,
            target.service,
            target.version(arm),
            window.start * 1000.0,
            window.end * 1000.0,
            limit,
        )
        return [
            Exemplar(r.trace_id, r.span_id, r.name, r.duration_ms, r.status, r.start_ms / 1000)
            for r in rows
        ]

    async def close(self) -> None:
        """Nothing to release: the store belongs to the node."""
