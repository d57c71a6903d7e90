"""Two numbers per host, 0-100: **stress** (how hard its resources are pressed right now)
and **stability** (how usual its last minutes are). Pure: readings and counts come in.

Stress reads the utilisation ratios the host collectors publish (CPU total, memory, swap,
the fullest filesystem, the busiest GPU and its memory): ``100 * (0.6 * max + 0.4 *
mean)`` of those present, so one saturated resource weighs in fully while a host busy on
every front scores higher than one busy on one. Swap counts only from 10 % up (a little
swap is normal).

Stability is ``100 * exp(-20 * r)`` where r is the share of the host's scored samples that
were anomalous over the window (``StabilityWindow``): 1 % anomalous gives 82, 5 % gives
37, none gives 100. One series in trouble among a hundred shows; a host where everything
is odd reads near zero.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping

RESOURCES: dict[str, str] = {
    "system.cpu.utilization": "cpu",
    "system.memory.utilization": "memory",
    "system.paging.utilization": "swap",
    "system.filesystem.utilization": "disk",
    "gpu.utilization": "gpu",
    "gpu.memory.utilization": "gpu_memory",
}
_SWAP_FREE = 0.1


def resource_of(name: str, labels: Mapping[str, str]) -> str | None:
    """The resource a sample measures the pressure of (None: not a pressure reading).

    Per-core CPU samples are left out: the total says the same without 64 votes."""
    resource = RESOURCES.get(name)
    if resource == "cpu" and labels.get("cpu", "total") != "total":
        return None
    return resource


def pressure_key(resource: str, labels: Mapping[str, str]) -> str:
    """One key per device of a resource (each filesystem, each GPU)."""
    device = labels.get("mountpoint") or labels.get("gpu") or labels.get("uuid") or ""
    return f"{resource}:{device}" if device else resource


def stress(pressures: Mapping[str, float]) -> float | None:
    """Stress 0-100 from ``pressure_key -> utilisation ratio`` (None: nothing to go on).
    Of several devices of a resource the busiest counts."""
    by_resource: dict[str, float] = {}
    for key, value in pressures.items():
        if not math.isfinite(value):
            continue
        resource = key.partition(":")[0]
        v = min(max(value, 0.0), 1.0)
        if resource == "swap":
            v = max(v - _SWAP_FREE, 0.0) / (1 - _SWAP_FREE)
        by_resource[resource] = max(by_resource.get(resource, 0.0), v)
    if not by_resource:
        return None
    values = list(by_resource.values())
    return round(100.0 * (0.6 * max(values) + 0.4 * sum(values) / len(values)), 1)


def stability(anomalous: int, scored: int) -> float | None:
    """Stability 0-100 from how many of ``scored`` samples were anomalous (None: none)."""
    if scored <= 0:
        return None
    return round(100.0 * math.exp(-20.0 * anomalous / scored), 1)


class StabilityWindow:
    """Counts of scored and anomalous samples per tick over the last ``window_s``."""

    def __init__(self, window_s: float = 300.0) -> None:
        self.window_s = window_s
        self._ticks: deque[tuple[float, int, int]] = deque()
        self.anomalous = 0
        self.scored = 0

    def add(self, ts: float, anomalous: int, scored: int) -> None:
        self._ticks.append((ts, anomalous, scored))
        self.anomalous += anomalous
        self.scored += scored
        while self._ticks and self._ticks[0][0] <= ts - self.window_s:
            _, a, s = self._ticks.popleft()
            self.anomalous -= a
            self.scored -= s

    def clear(self) -> None:
        self._ticks.clear()
        self.anomalous = self.scored = 0

    def value(self) -> float | None:
        return stability(self.anomalous, self.scored)
