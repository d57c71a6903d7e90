"""The Store protocol and the shapes it returns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sentra.events import Labels, Sample


class UnknownSeries(LookupError):
    """No stored series matches the query."""


class QueryError(ValueError):
    """A history query that cannot be answered as asked (the message says why)."""


@dataclass(frozen=True)
class SeriesInfo:
    id: int
    name: str
    labels: Labels
    first_ts: float | None = None
    last_ts: float | None = None


@dataclass
class SeriesPoints:
    name: str
    labels: Labels
    ts: list[float] = field(default_factory=list)
    avg: list[float] = field(default_factory=list)
    min: list[float] = field(default_factory=list)
    max: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "labels": self.labels,
            "points": [[t, v] for t, v in zip(self.ts, self.avg, strict=True)],
            "min": self.min,
            "max": self.max,
        }


@dataclass
class HistoryResult:
    tier: str
    granularity: float
    series: list[SeriesPoints]


@dataclass(frozen=True)
class StoreStats:
    series: int
    raw_samples: int
    chunks: int
    head_rows: int
    rollup_rows: int
    oldest_ts: float | None
    newest_ts: float | None
    db_bytes: int


class Store(Protocol):
    def append(self, samples: Iterable[Sample]) -> int:
        """Store samples durably (committed when this returns); return how many."""

    def series(self, name_contains: str = "", limit: int = 1000) -> list[SeriesInfo]: ...

    def history(
        self,
        name: str,
        labels: Labels,
        start: float,
        end: float,
        *,
        granularity: float | None = None,
        limit: int = 1000,
        now: float,
    ) -> HistoryResult: ...

    def maintain(self, now: float) -> None:
        """Seal pending samples, roll them up and apply retention when due."""

    def delete_history(self, before: float | None = None) -> int: ...

    def stats(self) -> StoreStats: ...

    def close(self) -> None: ...
