"""The in-memory mirror of the ``head`` table: unsealed samples per series."""

from __future__ import annotations

from array import array

import numpy as np

from sentra.store.rollup import F64, I64


class Head:
    """Unsealed samples, per series id, in arrival order. Not thread-safe by itself."""

    def __init__(self) -> None:
        self._ts: dict[int, array[int]] = {}
        self._values: dict[int, array[float]] = {}
        self.rows = 0

    def add(self, series_id: int, ts_ms: int, value: float) -> None:
        ts = self._ts.get(series_id)
        if ts is None:
            ts = self._ts[series_id] = array("q")
            self._values[series_id] = array("d")
        ts.append(ts_ms)
        self._values[series_id].append(value)
        self.rows += 1

    def series_ids(self) -> list[int]:
        return list(self._ts)

    def arrays(self, series_id: int) -> tuple[I64, F64]:
        """Copies of one series' samples, sorted by time."""
        ts = self._ts.get(series_id)
        if ts is None:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        t = np.array(ts, dtype=np.int64)
        v = np.array(self._values[series_id], dtype=np.float64)
        if t.size > 1 and (np.diff(t) < 0).any():
            order = np.argsort(t, kind="stable")
            t, v = t[order], v[order]
        return t, v

    def span(self, series_id: int) -> tuple[int, int] | None:
        ts = self._ts.get(series_id)
        if not ts:
            return None
        return min(ts), max(ts)

    def drop_before(self, cutoff_ms: int) -> None:
        for sid in list(self._ts):
            t, v = self.arrays(sid)
            keep = t >= cutoff_ms
            self.rows -= int((~keep).sum())
            self._ts[sid] = array("q", t[keep].tolist())
            self._values[sid] = array("d", v[keep].tolist())

    def clear(self) -> None:
        self._ts.clear()
        self._values.clear()
        self.rows = 0
