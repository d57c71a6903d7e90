"""Insight: what the node learns about each machine, kept on that machine.

The runtime around the pure models of ``sentra.analysis`` (baseline, anomaly, hostscore,
predict): a bus consumer that scores every series, writes the scores as series, and keeps
the baselines under ``state/`` across restarts (``service.py``, ``persist.py``).
"""

from __future__ import annotations

from sentra.insight.service import InsightService

__all__ = ["InsightService"]
