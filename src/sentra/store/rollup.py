"""Bucket aggregation of series data (min, max, sum, count per aligned bucket). Pure numpy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass
class Buckets:
    ts: I64  # bucket start, ms
    min: F64
    max: F64
    sum: F64
    count: I64

    @property
    def avg(self) -> F64:
        return self.sum / np.maximum(self.count, 1)

    @staticmethod
    def empty() -> Buckets:
        f = np.empty(0, dtype=np.float64)
        return Buckets(np.empty(0, dtype=np.int64), f, f, f, np.empty(0, dtype=np.int64))

    @staticmethod
    def from_raw(ts: I64, values: F64) -> Buckets:
        return Buckets(ts, values, values, values, np.ones(ts.size, dtype=np.int64))


def aggregate(src: Buckets, step_ms: int) -> Buckets:
    """Re-bucket ``src`` into buckets of ``step_ms`` aligned to multiples of it."""
    if src.ts.size == 0:
        return Buckets.empty()
    keys = (src.ts // step_ms) * step_ms
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    return Buckets(
        ts=keys[starts],
        min=np.minimum.reduceat(src.min[order], starts),
        max=np.maximum.reduceat(src.max[order], starts),
        sum=np.add.reduceat(src.sum[order], starts),
        count=np.add.reduceat(src.count[order], starts),
    )


def concat(parts: list[Buckets]) -> Buckets:
    parts = [p for p in parts if p.ts.size]
    if not parts:
        return Buckets.empty()
    if len(parts) == 1:
        return parts[0]
    return Buckets(
        np.concatenate([p.ts for p in parts]),
        np.concatenate([p.min for p in parts]),
        np.concatenate([p.max for p in parts]),
        np.concatenate([p.sum for p in parts]),
        np.concatenate([p.count for p in parts]),
    )
