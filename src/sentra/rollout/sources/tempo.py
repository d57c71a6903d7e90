"""Grafana Tempo as a telemetry source: TraceQL search over the HTTP API.

Every answer comes from ``/api/search?q=<TraceQL>&start=&end=&limit=`` (start and end in
whole unix seconds, as Tempo requires), which returns matching traces with their root span's
name and duration:

* ``counts``: events = traces matching the events query, trials = traces matching the
  trials query, both counted from the search results (at most ``search_limit`` each;
  ``Counts.truncated`` says when a side reached it), e.g. events ``{ resource.service.name =
  "{{service}}" && resource.service.version = "{{version}}" && status = error }``.
* ``scalar``: ``[count|rate|mean|max|pNN:]<TraceQL>``: the number of matching traces
  (default), per second, or a statistic of their durations in ms (``p95:{ … }``).
* ``distribution``: the matching traces' durations in ms (raw values).
* ``exemplars``: the arm's failed traces (``errors_query``), newest first, then the slowest
  of ``traces_query``.
"""

from __future__ import annotations

import asyncio
import math
import re
from dataclasses import dataclass
from typing import Any

import httpx
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
from sentra.rollout.sources.config import TempoSourceConfig
from sentra.rollout.sources.httpapi import HttpApi
from sentra.rollout.sources.templates import expand

_STAT = re.compile(r"^\s*(count|rate|mean|max|p(\d{1,2}(?:\.\d+)?))\s*:\s*(?=\S)")


@dataclass(frozen=True)
class TraceHit:
    """One trace of a search result."""

    trace_id: str
    span_id: str
    name: str
    duration_ms: float
    start: float  # unix seconds


def parse_search(what: str, body: Any) -> list[TraceHit]:
    """The traces of a Tempo search answer (``{"traces": [...], "metrics": {...}}``)."""
    if not isinstance(body, dict) or not isinstance(body.get("traces", []), list):
        raise SourceError(f"{what} answered a search with JSON of another shape", retryable=False)
    hits = []
    for item in body.get("traces") or []:
        if not isinstance(item, dict) or not item.get("traceID"):
            raise SourceError(f"{what}: a search result without traceID: {item!r}", retryable=False)
        sets = item.get("spanSets") or ([item["spanSet"]] if item.get("spanSet") else [])
        spans = [s for ss in sets for s in (ss.get("spans") or [])]
        hits.append(
            TraceHit(
                trace_id=str(item["traceID"]),
                span_id=str(spans[0].get("spanID", "")) if spans else "",
                name=str(item.get("rootTraceName", "")),
                duration_ms=float(item.get("durationMs", 0) or 0),
                start=int(item.get("startTimeUnixNano", 0) or 0) / 1e9,
            )
        )
    return hits


class TempoSource:
    kind = "tempo"

    def __init__(
        self,
        name: str,
        config: TempoSourceConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.config = config
        headers = dict(config.headers)
        if config.tenant_id:
            headers["X-Scope-OrgID"] = config.tenant_id
        self._api = HttpApi(
            what=f"Tempo at {config.url}",
            url=config.url,
            timeout_s=config.timeout_s,
            headers=headers,
            bearer_token_file=config.bearer_token_file,
            transport=transport,
        )

    async def search(self, traceql: str, window: Window, limit: int) -> list[TraceHit]:
        params: dict[str, str | int | float] = {
            "q": traceql,
            "start": math.floor(window.start),
            "end": max(math.ceil(window.end), math.floor(window.start) + 1),
            "limit": limit,
        }
        body = await self._api.get("/api/search", params)
        return parse_search(self._api.what, body)

    async def scalar(
        self,
        query: str,
        arm: Arm,
        target: Target,
        window: Window,
        *,
        samples_query: str | None = None,
    ) -> Scalar:
        m = _STAT.match(query)
        stat = m.group(1) if m else "count"
        traceql = expand(query[m.end() :] if m else query, arm, target, window)
        hits = await self.search(traceql, window, self.config.search_limit)
        n = len(hits)
        shown = f"{stat}:{traceql}"
        if stat == "count":
            return Scalar(float(n), n, shown)
        if stat == "rate":
            return Scalar(n / window.seconds if window.seconds else None, n, shown)
        if not hits:
            return Scalar(None, 0, shown)
        durations = np.array([h.duration_ms for h in hits], dtype=np.float64)
        if stat == "mean":
            value = float(durations.mean())
        elif stat == "max":
            value = float(durations.max())
        else:
            q = float(stat[1:])
            if not 0 < q < 100:
                raise SourceError(f"{stat}: a quantile is between p0 and p100", retryable=False)
            value = float(np.quantile(durations, q / 100))
        return Scalar(value, n, shown)

    async def counts(
        self, events: str, trials: str, arm: Arm, target: Target, window: Window
    ) -> Counts:
        ev_ql = expand(events, arm, target, window)
        tr_ql = expand(trials, arm, target, window)
        limit = self.config.search_limit
        ev, tr = await asyncio.gather(
            self.search(ev_ql, window, limit), self.search(tr_ql, window, limit)
        )
        return Counts(
            events=float(len(ev)),
            trials=float(len(tr)),
            query=f"{ev_ql} / {tr_ql}",
            truncated=len(ev) >= limit or len(tr) >= limit,
        )

    async def distribution(
        self, query: str, arm: Arm, target: Target, window: Window
    ) -> Distribution:
        traceql = expand(query, arm, target, window)
        hits = await self.search(traceql, window, self.config.search_limit)
        return Distribution(values=tuple(h.duration_ms for h in hits), query=traceql)

    async def exemplars(
        self, arm: Arm, target: Target, window: Window, *, limit: int = 5
    ) -> list[Exemplar]:
        errors_ql = expand(self.config.errors_query, arm, target, window)
        traces_ql = expand(self.config.traces_query, arm, target, window)
        errors, traces = await asyncio.gather(
            self.search(errors_ql, window, max(limit, 20)),
            self.search(traces_ql, window, self.config.search_limit),
        )
        out: list[Exemplar] = []
        seen: set[str] = set()
        ranked = [(h, "error") for h in sorted(errors, key=lambda h: -h.start)]
        ranked += [(h, "unset") for h in sorted(traces, key=lambda h: (-h.duration_ms, -h.start))]
        for hit, status in ranked:
            if len(out) >= limit:
                break
            if hit.trace_id in seen:
                continue
            seen.add(hit.trace_id)
            out.append(
                Exemplar(hit.trace_id, hit.span_id, hit.name, hit.duration_ms, status, hit.start)
            )
        return out

    async def close(self) -> None:
        await self._api.close()
