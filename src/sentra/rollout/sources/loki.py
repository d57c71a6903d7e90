"""Grafana Loki as a telemetry source: LogQL metric queries over the HTTP API.

* ``scalar``: an instant query (``/loki/api/v1/query`` at ``time = window.end``, in
  nanoseconds) that returns a vector; the one series' value, e.g. the share of error lines::

      sum(count_over_time({service="{{service}}", version="{{version}}"}
                          |= "level=error" [{{window}}]))
        / sum(count_over_time({service="{{service}}", version="{{version}}"} [{{window}}]))

  A log query (``resultType: streams``) is an error that says to wrap it in
  ``count_over_time``; no series or NaN is no data; several series ask for an aggregation.
* ``counts``: two such queries (events, trials), run together; no series is 0.
* ``distribution`` and ``exemplars``: not from Loki (an error / []).

Loki answers the same result format as Prometheus, so the parsing is shared (httpapi.py).
"""

from __future__ import annotations

from typing import Any

import httpx

from sentra.rollout.sources.base import (
    Arm,
    Distribution,
    SourceError,
    Target,
    Window,
)
from sentra.rollout.sources.config import LokiSourceConfig
from sentra.rollout.sources.httpapi import HttpApi, InstantQuerySource, instant_series


class LokiSource(InstantQuerySource):
    kind = "loki"

    def __init__(
        self,
        name: str,
        config: LokiSourceConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.config = config
        headers = dict(config.headers)
        if config.tenant_id:
            headers["X-Scope-OrgID"] = config.tenant_id
        self._api = HttpApi(
            what=f"Loki at {config.url}",
            url=config.url,
            timeout_s=config.timeout_s,
            headers=headers,
            bearer_token_file=config.bearer_token_file,
            transport=transport,
        )

    async def query(self, logql: str, at: float) -> list[tuple[dict[str, str], float | None]]:
        """Every (labels, value) of an instant metric query evaluated at unix time ``at``."""
        params = {"query": logql, "time": str(round(at * 1e9))}
        body: Any = await self._api.get("/loki/api/v1/query", params)
        return instant_series(self._api.what, logql, body)

    async def distribution(
        self, query: str, arm: Arm, target: Target, window: Window
    ) -> Distribution:
        raise SourceError(
            f"source {self.name!r} is Loki, which has no distributions; judge latency from "
            "Prometheus, Tempo or the builtin source, or gate on a LogQL quantile_over_time",
            retryable=False,
        )
