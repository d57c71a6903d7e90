"""The plain report model: what a KPI report shows, already formatted for print.

Everything here is text or numbers, decided before rendering (which value is a PASS, how a
threshold reads), so the PDF layout holds no product logic and any store backend can fill
it. Instances are frozen: the same model always renders to the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# The stamps a table cell can carry; the renderer colours them.
STAMPS = ("PASS", "FAIL", "HOLD", "NO DATA", "IN PROGRESS")


@dataclass(frozen=True)
class Table:
    """A titled table; the cells of ``stamp_column`` are stamps (see STAMPS)."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    stamp_column: int | None = None
    empty: str = "nothing to show"


@dataclass(frozen=True)
class Line:
    """One plotted series: unix-second times and values."""

    label: str
    ts: tuple[float, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class Marker:
    """A vertical line on a chart (a decision), with a short label."""

    ts: float
    label: str
    bad: bool = False


@dataclass(frozen=True)
class Chart:
    title: str
    lines: tuple[Line, ...]
    unit: str = ""
    threshold: float | None = None
    threshold_label: str = ""
    markers: tuple[Marker, ...] = ()
    scale: float = 1.0  # values are multiplied by this before plotting (ratio -> percent)


@dataclass(frozen=True)
class Report:
    kind: Literal["rollout", "node"]
    subject: str  # the rollout's name, or the node's host name
    title: str
    generated_at: float  # unix seconds
    start: float
    end: float
    verdict: str  # one of STAMPS: the report's headline stamp
    verdict_reason: str
    facts: tuple[tuple[str, str], ...] = ()
    tables: tuple[Table, ...] = ()  # before the charts (gates, judge, metric summaries)
    charts: tuple[Chart, ...] = ()
    timeline: Table | None = None  # after the charts (decisions, alerts)
    notes: tuple[str, ...] = field(default_factory=tuple)
