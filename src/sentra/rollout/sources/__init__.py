"""Telemetry sources the rollout controller reads its gates and its judge from.

``build_source`` turns one entry of a spec's ``sources:`` (or the implicit ``builtin``) into
a ``TelemetrySource``; the composition root owns it and calls ``close()`` on shutdown.
"""

from __future__ import annotations

from sentra.rollout.sources.base import (
    Arm,
    Counts,
    Distribution,
    Exemplar,
    Scalar,
    SourceError,
    Target,
    TelemetrySource,
    Window,
)
from sentra.rollout.sources.config import (
    AnomalySourceConfig,
    BuiltinSourceConfig,
    LokiSourceConfig,
    PrometheusSourceConfig,
    SourceConfig,
    TempoSourceConfig,
)
from sentra.store.sqlite import SqliteStore

__all__ = [
    "Arm",
    "Counts",
    "Distribution",
    "Exemplar",
    "Scalar",
    "SourceConfig",
    "SourceError",
    "Target",
    "TelemetrySource",
    "Window",
    "build_source",
]


def build_source(name: str, config: SourceConfig, *, store: SqliteStore | None) -> TelemetrySource:
    """The source ``config`` describes, called ``name`` in decisions and errors.

    ``store`` is required for the builtin source (and ignored by the others). Imports are
    local so that a node without rollouts never loads httpx-based adapters it does not use.
    """
    if isinstance(config, BuiltinSourceConfig):
        if store is None:
            raise ValueError(f"source {name!r} is builtin and needs the node's store")
        from sentra.rollout.sources.builtin import BuiltinSource

        return BuiltinSource(name, store)
    if isinstance(config, AnomalySourceConfig):
        if store is None:
            raise ValueError(f"source {name!r} reads anomaly scores and needs the node's store")
        from sentra.rollout.sources.anomaly import AnomalySource

        return AnomalySource(name, config, store)
    if isinstance(config, PrometheusSourceConfig):
        from sentra.rollout.sources.prometheus import PrometheusSource

        return PrometheusSource(name, config)
    if isinstance(config, LokiSourceConfig):
        from sentra.rollout.sources.loki import LokiSource

        return LokiSource(name, config)
    if isinstance(config, TempoSourceConfig):
        from sentra.rollout.sources.tempo import TempoSource

        return TempoSource(name, config)
    raise TypeError(f"unknown source config {type(config).__name__}")
