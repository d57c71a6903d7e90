"""What the rollout controller asks a telemetry source, and the shapes of the answers.

Every source (Sentra's own store, Prometheus, Loki, Tempo) answers the same four questions
about one *arm* of a rollout (stable, canary or baseline) over one time window: a number
(``scalar``), a ratio's two sides (``counts``), a set of values or histogram bins
(``distribution``) and a few example traces (``exemplars``). Queries are strings in the
source's own language with ``{{placeholders}}`` (see ``templates.py``).

Pure data and a protocol: no I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable


class Arm(StrEnum):
    """One side of a rollout; each arm runs its own version of the service."""

    STABLE = "stable"
    CANARY = "canary"
    BASELINE = "baseline"  # a fresh copy of stable, started with the canary (fair comparison)


@dataclass(frozen=True)
class Target:
    """What is being rolled out: the service's name in telemetry and each arm's version."""

    service: str
    versions: Mapping[Arm, str]
    labels: Mapping[str, str] = field(default_factory=dict)

    def version(self, arm: Arm) -> str:
        """The version label of ``arm``; a SourceError when the target does not name one."""
        try:
            return self.versions[arm]
        except KeyError:
            raise SourceError(
                f"the rollout of {self.service!r} names no version for the {arm} arm "
                f"(it has {', '.join(sorted(a.value for a in self.versions)) or 'none'})",
                retryable=False,
            ) from None


@dataclass(frozen=True)
class Window:
    """A time window in unix seconds, ``start`` included, ``end`` excluded."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        return max(self.end - self.start, 0.0)


@dataclass(frozen=True)
class Scalar:
    """One number. ``value`` None means no data; ``samples`` is how many observations
    (spans, log lines, series, points) stand behind it, so a judge can refuse thin data."""

    value: float | None
    samples: int
    query: str


@dataclass(frozen=True)
class Counts:
    """Two sides of a ratio, e.g. error requests (events) out of all requests (trials).

    ``truncated`` is True when a side hit a source's result limit (Tempo search), so the
    counts are lower bounds rather than exact.
    """

    events: float
    trials: float
    query: str
    truncated: bool = False


@dataclass(frozen=True)
class Distribution:
    """Raw values (builtin, Tempo) or histogram bins (Prometheus).

    ``edges`` are the bins' upper bounds in increasing order (the last may be ``inf``) and
    ``counts`` the observations in each bin, NOT cumulative.
    """

    values: tuple[float, ...] = ()
    edges: tuple[float, ...] = ()
    counts: tuple[float, ...] = ()
    query: str = ""

    @property
    def total(self) -> float:
        return float(len(self.values)) if self.values else float(sum(self.counts))


@dataclass(frozen=True)
class Exemplar:
    """One example request: a link from a decision to the trace that explains it."""

    trace_id: str
    span_id: str
    name: str
    duration_ms: float
    status: str
    ts: float


class SourceError(Exception):
    """A query that could not be answered, in words a person understands.

    ``retryable`` tells the controller what to do: True (the server is down, timed out,
    overloaded) means wait and ask again; False (a bad query, a missing version, wrong
    credentials) means asking again will not help and a person must fix the spec or config.
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


@runtime_checkable
class TelemetrySource(Protocol):
    """A place the controller reads telemetry from. Implementations never block the loop."""

    name: str  # the name it is configured under, e.g. "prom"
    kind: str  # builtin | prometheus | loki | tempo

    async def scalar(
        self,
        query: str,
        arm: Arm,
        target: Target,
        window: Window,
        *,
        samples_query: str | None = None,
    ) -> Scalar:
        """One number for ``arm`` over ``window``. ``samples_query``, where the source
        supports it, is a second query whose value is reported as ``samples``."""
        ...

    async def counts(
        self, events: str, trials: str, arm: Arm, target: Target, window: Window
    ) -> Counts: ...

    async def distribution(
        self, query: str, arm: Arm, target: Target, window: Window
    ) -> Distribution: ...

    async def exemplars(
        self, arm: Arm, target: Target, window: Window, *, limit: int = 5
    ) -> list[Exemplar]:
        """Example traces of ``arm`` (errors first); [] when the source has none."""
        ...

    async def close(self) -> None: ...
