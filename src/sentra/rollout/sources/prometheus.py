"""Prometheus as a telemetry source: PromQL instant queries over the HTTP API.

* ``scalar``: ``/api/v1/query`` at ``time = window.end``; the one sample's value (no series
  or NaN: no data; several series: an error asking for an aggregation). ``samples`` is the
  number of series, or the value of ``samples_query`` when one is given.
* ``counts``: two instant queries (events, trials), run together; no series or NaN is 0.
* ``distribution``: a query returning ``le`` buckets, e.g. ``sum by (le)
  (increase(http_request_duration_seconds_bucket{version="{{version}}"}[{{window}}]))``; the
  cumulative buckets become per-bin counts (``+Inf`` becomes ``inf``).
* ``exemplars``: [] (Prometheus' exemplar storage is an opt-in feature flag; traces come
  from Tempo or the builtin source).

Errors from Prometheus (``{"status":"error","errorType":…,"error":…}``) become SourceErrors
with its text; ``bad_data``/``execution`` are not retryable, a refused connection is.
"""

from __future__ import annotations

import math
from typing import Any

import httpx

from sentra.rollout.sources.base import (
    Arm,
    Distribution,
    SourceError,
    Target,
    Window,
)
from sentra.rollout.sources.config import PrometheusSourceConfig
from sentra.rollout.sources.httpapi import HttpApi, InstantQuerySource, instant_series
from sentra.rollout.sources.templates import expand


class PrometheusSource(InstantQuerySource):
    kind = "prometheus"

    def __init__(
        self,
        name: str,
        config: PrometheusSourceConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._api = HttpApi(
            what=f"Prometheus at {config.url}",
            url=config.url,
            timeout_s=config.timeout_s,
            headers=config.headers,
            bearer_token_file=config.bearer_token_file,
            transport=transport,
        )

    async def query(self, promql: str, at: float) -> list[tuple[dict[str, str], float | None]]:
        """Every (labels, value) of an instant query evaluated at unix time ``at``."""
        body: Any = await self._api.get("/api/v1/query", {"query": promql, "time": f"{at:.3f}"})
        return instant_series(self._api.what, promql, body)

    async def distribution(
        self, query: str, arm: Arm, target: Target, window: Window
    ) -> Distribution:
        promql = expand(query, arm, target, window)
        series = await self.query(promql, window.end)
        edges, counts = buckets_to_bins(promql, series)
        return Distribution(edges=edges, counts=counts, query=promql)


def buckets_to_bins(
    query: str, series: list[tuple[dict[str, str], float | None]]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Cumulative ``le`` buckets → (upper bounds, per-bin counts), sorted by bound.

    A bucket below its predecessor (``increase()`` extrapolates each bucket on its own, so
    neighbours can disagree by a fraction) gives a bin of 0, never a negative count.
    """
    if not series:
        return (), ()
    cumulative: dict[float, float] = {}
    for labels, value in series:
        le = labels.get("le")
        if le is None:
            raise SourceError(
                f"{query!r} returns series without an 'le' label; a distribution needs "
                "histogram buckets, e.g. sum by (le) (increase(x_bucket[{{window}}]))",
                retryable=False,
            )
        others = {k: v for k, v in labels.items() if k != "le"}
        try:
            bound = float(le)  # "+Inf" parses as inf
        except ValueError:
            raise SourceError(
                f"{query!r}: bucket bound le={le!r} is not a number", retryable=False
            ) from None
        if bound in cumulative:
            raise SourceError(
                f"{query!r} returns several series for le={le} ({others}); aggregate them "
                "with sum by (le) (…)",
                retryable=False,
            )
        cumulative[bound] = value if value is not None and math.isfinite(value) else 0.0
    edges = tuple(sorted(cumulative))
    counts: list[float] = []
    previous = 0.0
    for edge in edges:
        running = max(cumulative[edge], previous)
        counts.append(running - previous)
        previous = running
    return edges, tuple(counts)
