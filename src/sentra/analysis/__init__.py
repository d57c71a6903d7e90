"""Analysis: the pure core that judges telemetry (no I/O, no clock, no randomness).

``judge`` compares a canary with its baseline per metric using anytime-valid sequential
tests (``sequential``), or Kayenta's fixed-sample rules (``kayenta``) on request.
"""

from __future__ import annotations

from sentra.analysis.judge import (
    ContinuousData,
    CountData,
    Direction,
    JudgeMetric,
    MetricVerdict,
    Verdict,
    judge,
)
from sentra.analysis.kayenta import KayentaThresholds

__all__ = [
    "ContinuousData",
    "CountData",
    "Direction",
    "JudgeMetric",
    "KayentaThresholds",
    "MetricVerdict",
    "Verdict",
    "judge",
]
