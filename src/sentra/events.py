"""The events that travel on the bus.

Pure data: no I/O, no clock. Every producer publishes these; every consumer reads them.
Timestamps are unix seconds (float) at the edges; the store keeps integer milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

Labels = dict[str, str]


class Sample(msgspec.Struct, frozen=True, gc=False):
    """One value of one series at one instant."""

    name: str
    labels: Labels
    ts: float
    value: float


class Samples(msgspec.Struct, frozen=True):
    """A batch of samples taken together by one source (a collector tick, an ingest batch)."""

    source: str
    ts: float
    samples: list[Sample]


class CollectorStatus(msgspec.Struct, frozen=True):
    """How a collector's last tick went.

    state is one of: ``ok`` (fresh readings), ``stale`` (over its time budget; the previous
    readings stand), ``absent`` (the thing it reads does not exist here, e.g. no GPU: a normal
    state), ``error`` (it failed; ``message`` says why and how to fix it).
    """

    source: str
    ts: float
    state: str
    message: str = ""
    duration_ms: float = 0.0
    series: int = 0


class LogRecord(msgspec.Struct, frozen=True, gc=False):
    """One log line from an application (ingest API or OTLP)."""

    ts: float
    body: str
    severity: str = "INFO"
    severity_number: int = 9
    service: str = ""
    version: str = ""
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)
    trace_id: str = ""
    span_id: str = ""


class Span(msgspec.Struct, frozen=True, gc=False):
    """One finished span (OTLP traces). Ids are lowercase hex; times are unix seconds."""

    trace_id: str
    span_id: str
    name: str
    start: float
    end: float
    parent_id: str = ""
    service: str = ""
    version: str = ""
    kind: str = "internal"
    status: str = "unset"  # unset | ok | error
    status_message: str = ""
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)

    @property
    def duration_ms(self) -> float:
        return (self.end - self.start) * 1000.0


class Logs(msgspec.Struct, frozen=True):
    source: str
    ts: float
    records: list[LogRecord]


class Spans(msgspec.Struct, frozen=True):
    source: str
    ts: float
    spans: list[Span]


class RolloutEvent(msgspec.Struct, frozen=True):
    """A rollout's decision (topic ``rollout.decision.<name>``) or its new state (topic
    ``rollout.state.<name>``); ``data`` is the JSON the API serves for it."""

    source: str  # the rollout's name
    ts: float
    data: dict[str, Any]


class AlertEvent(msgspec.Struct, frozen=True):
    """An alert that changed state (topic ``alerts.<rule>``); ``data`` is its API JSON."""

    source: str  # the rule's name
    ts: float
    data: dict[str, Any]


Event = Samples | CollectorStatus | Logs | Spans | RolloutEvent | AlertEvent

SEVERITY_NUMBERS = {"TRACE": 1, "DEBUG": 5, "INFO": 9, "WARN": 13, "ERROR": 17, "FATAL": 21}


def severity_number(name: str) -> int:
    """OpenTelemetry severity number of a level name (WARNING = WARN, CRITICAL = FATAL)."""
    key = name.strip().upper()
    key = {"WARNING": "WARN", "CRITICAL": "FATAL", "ERR": "ERROR"}.get(key, key)
    return SEVERITY_NUMBERS.get(key, 0)


def series_key(name: str, labels: Mapping[str, str]) -> str:
    """The canonical identity of a series: ``name{k="v",…}`` with labels sorted by key."""
    if not labels:
        return name
    inner = ",".join(f'{k}="{labels[k]}"' for k in sorted(labels))
    return f"{name}{{{inner}}}"


def parse_label_filter(text: str) -> Labels:
    """Parse ``k=v,k2=v2`` into a dict; raises ValueError with a readable message."""
    out: Labels = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"label filter {part!r} is not of the form key=value")
        out[key.strip()] = value.strip().strip('"')
    return out
