"""Telemetry-source settings as pydantic models: the ``sources:`` key of a rollout spec.

Pure on purpose (pydantic only, no I/O): the rollout spec module imports these to validate a
spec with line-numbered errors before anything moves. Files named here (bearer token files)
are read only when the source runs, not when the spec is read.

Every model forbids unknown keys, so a misspelt setting fails validation instead of being
ignored. ``SourceConfig`` is the discriminated union over ``type``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_URL = re.compile(r"^https?://[^/\s]+")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BuiltinSourceConfig(_Model):
    """Sentra's own store: spans, logs and metrics sent to this node (OTLP or ingest API)."""

    type: Literal["builtin"] = Field("builtin", description="Sentra's own telemetry store.")


class AnomalySourceConfig(_Model):
    """The node's anomaly scores of the arm's series and hosts (sentra.insight)."""

    type: Literal["anomaly"] = Field(description="Anomaly scores learnt by this node.")
    threshold: float = Field(
        1.0, gt=0, le=1, description="A score at or over this counts as anomalous."
    )


class _HttpSourceConfig(_Model):
    url: str = Field(description="Base URL of the server, e.g. http://prometheus:9090.")
    timeout_s: float = Field(
        10.0, gt=0, le=300, description="Seconds before a request counts as failed (retryable)."
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra HTTP headers sent with every request."
    )
    bearer_token_file: str | None = Field(
        None,
        description="File holding a bearer token (re-read every minute, so rotated tokens "
        "work); sent as 'Authorization: Bearer …'.",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not _URL.match(value):
            raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
        return value.rstrip("/")

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, val in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"invalid HTTP header name {name!r}")
            if "\n" in val or "\r" in val:
                raise ValueError(f"header {name!r} has a line break in its value")
        return value


class PrometheusSourceConfig(_HttpSourceConfig):
    """A Prometheus-compatible HTTP API (Prometheus, Thanos, Mimir, VictoriaMetrics)."""

    type: Literal["prometheus"] = Field(description="Prometheus HTTP API (PromQL).")


class LokiSourceConfig(_HttpSourceConfig):
    """Grafana Loki: LogQL metric queries (e.g. error lines per second)."""

    type: Literal["loki"] = Field(description="Grafana Loki HTTP API (LogQL).")
    tenant_id: str | None = Field(None, description="Sent as X-Scope-OrgID on a multi-tenant Loki.")


_TRACES = 'resource.service.name = "{{service}}" && resource.service.version = "{{version}}"'


class TempoSourceConfig(_HttpSourceConfig):
    """Grafana Tempo: TraceQL search (trace counts, durations, exemplars)."""

    type: Literal["tempo"] = Field(description="Grafana Tempo HTTP API (TraceQL search).")
    tenant_id: str | None = Field(
        None, description="Sent as X-Scope-OrgID on a multi-tenant Tempo."
    )
    search_limit: int = Field(
        5000,
        ge=1,
        le=100_000,
        description="Most traces one search returns; counts that reach it are lower bounds "
        "(Counts.truncated).",
    )
    traces_query: str = Field(
        "{ " + _TRACES + " }",
        min_length=1,
        description="TraceQL selecting the arm's traces (exemplars: the slowest of these).",
    )
    errors_query: str = Field(
        "{ " + _TRACES + " && status = error }",
        min_length=1,
        description="TraceQL selecting the arm's failed traces (exemplars: these first).",
    )


SourceConfig = Annotated[
    BuiltinSourceConfig
    | AnomalySourceConfig
    | PrometheusSourceConfig
    | LokiSourceConfig
    | TempoSourceConfig,
    Field(discriminator="type"),
]
