"""Select a frame's items for one filter and encode them, once per distinct filter.

Pure: no I/O, no clock (times are passed in). An item is one bus event, cut down to what the
filter wants; an item the filter takes whole is encoded once per frame however many filters
take it. A frame is split into a head (up to ``"dropped":``) and a tail, so the per-client
drop count is spliced in without encoding the items again.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any

import msgspec

from sentra.events import CollectorStatus, Event, LogRecord, Logs, Sample, Samples, Span, Spans
from sentra.live.filters import LiveFilter

# The first topic segment names the kind; rollout decisions may arrive as ``rollout.*``.
_TOPIC_KINDS = {
    "metrics": "metrics",
    "status": "status",
    "logs": "logs",
    "spans": "spans",
    "decisions": "decisions",
    "rollout": "decisions",
    "alerts": "alerts",
    "wg": "wg",  # wg.status.<interface>: PeerStatus / InterfaceStatus
}
_NAME_CACHE_MAX = 10_000

_encode = msgspec.json.Encoder().encode


class MetricsItem(msgspec.Struct):
    kind: str
    topic: str
    source: str
    ts: float
    samples: list[Sample]


class StatusItem(msgspec.Struct):
    kind: str
    topic: str
    source: str
    ts: float
    state: str
    message: str
    duration_ms: float
    series: int


class LogsItem(msgspec.Struct):
    kind: str
    topic: str
    source: str
    ts: float
    records: list[LogRecord]


class SpansItem(msgspec.Struct):
    kind: str
    topic: str
    source: str
    ts: float
    spans: list[Span]


class OtherItem(msgspec.Struct):
    kind: str
    topic: str
    source: str
    ts: float
    data: Any


def topic_kind(topic: str) -> str | None:
    """The live kind of a bus topic, or None when the hub does not stream it."""
    return _TOPIC_KINDS.get(topic.partition(".")[0])


def metric_origin(topic: str) -> str:
    """``collect`` for collector ticks (``metrics.collect.*``), ``ingest`` for the rest."""
    return "collect" if topic.startswith("metrics.collect.") else "ingest"


class Entry:
    """One buffered bus event; its whole-item encoding is made at most once per frame."""

    __slots__ = ("_full", "event", "kind", "topic")

    def __init__(self, kind: str, topic: str, event: Event) -> None:
        self.kind = kind
        self.topic = topic
        self.event = event
        self._full: bytes | None = None

    def full(self) -> bytes:
        if self._full is None:
            self._full = _encode(item_for(self.kind, self.topic, self.event, None))
        return self._full


def item_for(kind: str, topic: str, event: Event, subset: list[Any] | None) -> msgspec.Struct:
    """The item of an event; ``subset`` replaces its samples/records/spans when given."""
    if isinstance(event, Samples):
        return MetricsItem(
            kind, topic, event.source, event.ts, event.samples if subset is None else subset
        )
    if isinstance(event, CollectorStatus):
        e = event
        return StatusItem(kind, topic, e.source, e.ts, e.state, e.message, e.duration_ms, e.series)
    if isinstance(event, Logs):
        return LogsItem(
            kind, topic, event.source, event.ts, event.records if subset is None else subset
        )
    if isinstance(event, Spans):
        return SpansItem(
            kind, topic, event.source, event.ts, event.spans if subset is None else subset
        )
    src = getattr(event, "source", "")
    ts = getattr(event, "ts", 0.0)
    data = getattr(event, "data", event)  # RolloutEvent: its JSON, not the envelope again
    return OtherItem(kind, topic, src if isinstance(src, str) else "", float(ts), data)


class Selector:
    """Applies one filter to entries; keeps a small cache of metric-name glob results."""

    def __init__(self, filt: LiveFilter) -> None:
        self.filter = filt
        self._names: re.Pattern[str] | None = None
        if filt.names:
            self._names = re.compile("|".join(fnmatch.translate(g) for g in filt.names))
        self._name_ok: dict[str, bool] = {}

    def name_ok(self, name: str) -> bool:
        if self._names is None:
            return True
        hit = self._name_ok.get(name)
        if hit is None:
            if len(self._name_ok) >= _NAME_CACHE_MAX:
                self._name_ok.clear()
            hit = self._name_ok[name] = self._names.match(name) is not None
        return hit

    def _sample_ok(self, s: Sample) -> bool:
        return self.name_ok(s.name) and all(m.matches(s.labels) for m in self.filter.labels)

    def _record_ok(self, service: str, version: str) -> bool:
        f = self.filter
        return (not f.services or service in f.services) and (
            not f.versions or version in f.versions
        )

    def select(self, entry: Entry) -> bytes | None:
        """The encoded item this filter takes from ``entry``, or None."""
        f = self.filter
        if entry.kind not in f.kinds:
            return None
        event = entry.event
        subset: list[Any]
        if isinstance(event, Samples):
            if f.source != "all" and metric_origin(entry.topic) != f.source:
                return None
            if self._names is None and not f.labels:
                return entry.full() if event.samples else None
            subset = [s for s in event.samples if self._sample_ok(s)]
            total = len(event.samples)
        elif isinstance(event, Logs | Spans):
            if not f.services and not f.versions:
                return entry.full()
            recs: list[LogRecord] | list[Span] = (
                event.records if isinstance(event, Logs) else event.spans
            )
            subset = [r for r in recs if self._record_ok(r.service, r.version)]
            total = len(recs)
        else:
            return entry.full()
        if not subset:
            return None
        if len(subset) == total:
            return entry.full()
        return _encode(item_for(entry.kind, entry.topic, event, subset))


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """A frame split around its drop count: ``head + b"<n>" + tail``."""

    seq: int
    head: bytes
    tail: bytes
    items: int

    def with_dropped(self, dropped: int) -> bytes:
        return b"%s%d%s" % (self.head, dropped, self.tail)


def encode_frame(seq: int, ts: float, items: list[bytes]) -> EncodedFrame:
    head = b'{"type":"frame","seq":%d,"ts":%s,"dropped":' % (seq, _encode(ts))
    tail = b',"items":[' + b",".join(items) + b"]}"
    return EncodedFrame(seq, head, tail, len(items))


def message(kind: str, **fields: Any) -> bytes:
    """A control message: ``hello``, ``subscribed``, ``error``, ``ping``, ``close``."""
    return _encode({"type": kind, **fields})
