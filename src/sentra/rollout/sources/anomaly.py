"""The node's anomaly scores as a telemetry source: gate a rollout on how unusual the
canary's series and hosts look to their learnt baselines (sentra.insight).

Reads the series the insight service stores, from the node's own store. An arm's series
are those whose labels carry the arm's identity, narrowed as the builtin source narrows
(``service``, the arm's ``version`` and the target's extra labels, wherever a series has
that label and the query does not name it), so ``score`` reads the canary's own series
and ``rate`` the canary's hosts when the target names them (``labels: {host: web-3}``).

Scalar queries (``{k="v",k2!="v"}`` matchers as for builtin ``metric:``):

* ``score[{…}][:max|avg|last|p95]``: the arm's ``sentra.anomaly.score`` (0-1, 1 =
  anomalous), max by default; ``{series="http.server.duration"}`` picks one metric;
* ``anomalous_pct[{…}]``: % of the arm's score points at or over ``threshold``;
* ``rate[{…}][:max|avg|last|p95]``: ``sentra.anomaly.rate`` of the arm's hosts (% of a
  host's series anomalous), max by default.

Counts ``anomalous`` / ``scored`` (score points at or over the threshold / all of them) and
the distribution ``score`` serve the statistical judge. No series in the window means no
data: the gate's ``no_data`` policy decides (``hold`` unless the spec says otherwise).
"""

from __future__ import annotations

import asyncio
import re

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
from sentra.rollout.sources.builtin import MetricQuery, arm_series, parse_metric_query
from sentra.rollout.sources.config import AnomalySourceConfig
from sentra.rollout.sources.templates import expand
from sentra.store.sqlite import SqliteStore

SERIES = {"score": "sentra.anomaly.score", "rate": "sentra.anomaly.rate"}
QUERIES = ("score", "anomalous_pct", "rate")
AGGREGATIONS = ("max", "avg", "last", "p95")
COUNT_NAMES = ("anomalous", "scored")
_QUERY = re.compile(r"^(?P<head>[a-z_]+)(?P<labels>\{.*\})?(?::(?P<agg>[a-z0-9]+))?$")


class AnomalySource:
    kind = "anomaly"

    def __init__(self, name: str, config: AnomalySourceConfig, store: SqliteStore) -> None:
        self.name = name
        self.threshold = config.threshold
        self.store = store

    def _parse(self, text: str) -> tuple[str, MetricQuery]:
        m = _QUERY.match(text)
        if m is None or m["head"] not in QUERIES:
            raise SourceError(
                f"unknown anomaly query {text!r} (known: {', '.join(QUERIES)}, each with "
                'optional {label="value"} matchers)',
                retryable=False,
            )
        agg = m["agg"] or "max"
        if agg not in AGGREGATIONS:
            raise SourceError(
                f"{text!r}: unknown aggregation {agg!r} (known: {', '.join(AGGREGATIONS)})",
                retryable=False,
            )
        series = SERIES["rate" if m["head"] == "rate" else "score"]
        q = parse_metric_query(f"metric:{series}{m['labels'] or ''}")
        return m["head"], MetricQuery(q.name, q.equal, q.not_equal, agg)

    def _points(self, q: MetricQuery, arm: Arm, target: Target, window: Window) -> list[float]:
        """Every point of the arm's matching series in the window (worker thread)."""
        values: list[float] = []
        for s in arm_series(self.store, q, arm, target, window, q.name):
            values.extend(s.max if q.aggregation == "max" else s.avg)
        return values

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
        head, q = self._parse(text)
        values = await asyncio.to_thread(self._points, q, arm, target, window)
        if not values:
            return Scalar(None, 0, text)
        if head == "anomalous_pct":
            hits = sum(v >= self.threshold for v in values)
            return Scalar(100.0 * hits / len(values), len(values), text)
        agg = q.aggregation
        if agg == "max":
            value = max(values)
        elif agg == "last":
            value = values[-1]
        elif agg == "p95":
            value = float(np.quantile(np.asarray(values), 0.95))
        else:
            value = sum(values) / len(values)
        return Scalar(float(value), len(values), text)

    async def counts(
        self, events: str, trials: str, arm: Arm, target: Target, window: Window
    ) -> Counts:
        names = [expand(q, arm, target, window).strip() for q in (events, trials)]
        bases = [n.split("{", 1)[0] for n in names]
        for name, base in zip(names, bases, strict=True):
            if base not in COUNT_NAMES:
                raise SourceError(
                    f"unknown anomaly count {name!r} (known: {', '.join(COUNT_NAMES)})",
                    retryable=False,
                )
        out: list[float] = []
        for name, base in zip(names, bases, strict=True):
            _, q = self._parse("score" + name[len(base) :])
            values = await asyncio.to_thread(self._points, q, arm, target, window)
            hits = sum(v >= self.threshold for v in values) if base == "anomalous" else len(values)
            out.append(float(hits))
        return Counts(out[0], out[1], f"{names[0]} / {names[1]}")

    async def distribution(
        self, query: str, arm: Arm, target: Target, window: Window
    ) -> Distribution:
        text = expand(query, arm, target, window).strip()
        head, q = self._parse(text)
        if head != "score":
            raise SourceError(
                f"unknown anomaly distribution {text!r} (known: score)", retryable=False
            )
        q = MetricQuery(q.name, q.equal, q.not_equal, "avg")
        values = await asyncio.to_thread(self._points, q, arm, target, window)
        return Distribution(values=tuple(values), query=text)

    async def exemplars(
        self, arm: Arm, target: Target, window: Window, *, limit: int = 5
    ) -> list[Exemplar]:
        """Anomaly scores carry no traces."""
        return []

    async def close(self) -> None:
        """Nothing to release: the store belongs to the node."""
