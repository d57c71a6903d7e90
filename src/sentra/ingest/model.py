"""The native ingest format and its validation.

A batch is ``{"metrics": [...], "logs": [...]}`` in JSON or MessagePack. Every item is
decoded and checked on its own, so one bad item is rejected (and dead-lettered) while its
neighbours are kept.

metric: ``{"name", "value", "ts"?, "labels"?, "id"?}``
log:    ``{"body", "ts"?, "severity"?, "attributes"?, "service"?, "version"?, "id"?,
           "trace_id"?, "span_id"?}``

Two paths give the same answer. The *fast path* decodes a well-formed batch in one call and
checks it a column at a time (C-speed ``min``/``max``/``sum``/``map`` instead of a Python
loop per item); a series (name + labels) is validated once, the first time its exact
bytes are seen, and every later sample of it shares one ``SeriesRef``. Samples come out
columnar (``SampleColumns``): no Python object per sample. If anything in the batch is off,
the *per-item path* judges the items one by one and gives each bad one its reason.
Measured (bench/ingest_throughput.py bodies, 90% samples): ~1.0 µs per event on the fast
path including the decode, against ~3.7 µs for the per-item path.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from operator import attrgetter, itemgetter
from typing import Any, TypeVar

import msgspec

from sentra.events import Labels, LogRecord, Sample, series_key, severity_number

T = TypeVar("T")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:/-]{0,254}$")
LABEL_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,127}$")
MAX_LABELS = 32
MAX_LABEL_VALUE = 1024
MAX_BODY = 65536
MAX_ID = 256
FUTURE_S = 86400.0
_CACHE_MAX = 100_000


class SeriesRef:
    """A validated series identity (name, labels and canonical key), made once per distinct
    series and shared by all its samples; the store maps it to its series id."""

    __slots__ = ("key", "labels", "name")

    def __init__(self, name: str, labels: Labels) -> None:
        self.name = name
        self.labels = labels
        self.key = series_key(name, labels)

    def __repr__(self) -> str:
        return f"SeriesRef({self.key!r})"


@dataclass(slots=True)
class SampleColumns:
    """Samples as three parallel lists (series, unix seconds, value)."""

    refs: list[SeriesRef] = field(default_factory=list)
    ts: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ts)

    def without(self, duplicate: Sequence[bool]) -> SampleColumns:
        """The samples whose flag is False."""
        keep = [not d for d in duplicate]
        c = itertools.compress
        return SampleColumns(
            list(c(self.refs, keep)), list(c(self.ts, keep)), list(c(self.values, keep))
        )

    def samples(self) -> list[Sample]:
        """One ``Sample`` per row (for the bus; the store takes the columns as they are)."""
        refs = self.refs
        return list(map(Sample, map(_name, refs), map(_labels, refs), self.ts, self.values))


_name = attrgetter("name")
_labels = attrgetter("labels")


class MetricIn(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    name: str
    value: float
    ts: float | None = None
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    id: str | None = None


class LogIn(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    body: str
    ts: float | None = None
    severity: str = "INFO"
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)
    service: str = ""
    version: str = ""
    id: str | None = None
    trace_id: str = ""
    span_id: str = ""


_NO_LABELS = msgspec.Raw(b"")


class _FastMetric(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A metric for the fast path: labels stay raw bytes (decoded once per distinct value)."""

    name: str
    value: float
    ts: float | None = None
    labels: msgspec.Raw = _NO_LABELS
    id: str | None = None


class Envelope(msgspec.Struct, forbid_unknown_fields=True):
    metrics: list[msgspec.Raw] = msgspec.field(default_factory=list)
    logs: list[msgspec.Raw] = msgspec.field(default_factory=list)


class _FastEnvelope(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """The fast path: a batch whose every item has the right shape decodes in one call."""

    metrics: list[_FastMetric] = msgspec.field(default_factory=list)
    logs: list[LogIn] = msgspec.field(default_factory=list)


@dataclass
class Rejection:
    kind: str
    index: int
    reason: str
    payload: str


@dataclass
class ParsedBatch:
    samples: SampleColumns = field(default_factory=SampleColumns)
    sample_ids: list[str | None] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    log_ids: list[str | None] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def items(self) -> int:
        return len(self.samples) + len(self.logs) + len(self.rejected)


class BatchError(ValueError):
    """The body as a whole cannot be read (not JSON/msgpack, not an object)."""


_json_env = msgspec.json.Decoder(Envelope)
_json_fast = msgspec.json.Decoder(_FastEnvelope)
_json_labels = msgspec.json.Decoder(dict[str, str])
_json_metric = msgspec.json.Decoder(MetricIn)
_json_log = msgspec.json.Decoder(LogIn)
_mp_env = msgspec.msgpack.Decoder(dict[str, list[Any]])
_mp_fast = msgspec.msgpack.Decoder(_FastEnvelope)
_mp_labels = msgspec.msgpack.Decoder(dict[str, str])

# Validated series, by canonical key, and by (name, raw label bytes) per encoding. They are
# caches of pure functions of their keys (bounded, cleared when full), not shared state.
_refs: dict[str, SeriesRef] = {}
_json_series: dict[tuple[str, bytes], SeriesRef] = {}
_mp_series: dict[tuple[str, bytes], SeriesRef] = {}
_severities: dict[str, tuple[str, int]] = {}


def _check_ts(ts: float | None, now: float, oldest: float) -> float:
    if ts is None:
        return now
    if not math.isfinite(ts):
        raise ValueError("ts must be a finite number of unix seconds")
    if ts > now + FUTURE_S:
        raise ValueError(f"ts {ts:.3f} is more than a day in the future")
    if ts < oldest:
        raise ValueError(f"ts {ts:.3f} is older than the history retention")
    return ts


def _check_id(event_id: str | None) -> str | None:
    if event_id is not None and (not event_id or len(event_id) > MAX_ID):
        raise ValueError(f"id must be 1 to {MAX_ID} characters")
    return event_id


def _bounded(cache: dict[Any, Any]) -> dict[Any, Any]:
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    return cache


def _check_name(name: str) -> None:
    if not NAME.match(name):
        raise ValueError(
            f"name {name[:80]!r} is not a metric name (letters, digits, . _ : / -; "
            "starting with a letter or _; at most 255 characters)"
        )


def _check_labels(labels: Labels) -> None:
    if len(labels) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} labels per sample")
    for k, v in labels.items():
        if not LABEL_KEY.match(k):
            raise ValueError(f"label name {k[:80]!r} is not valid")
        if len(v) > MAX_LABEL_VALUE:
            raise ValueError(f"label {k} is longer than {MAX_LABEL_VALUE} characters")


def series_ref(name: str, labels: Labels) -> SeriesRef:
    """The shared reference of a valid series; ValueError says what is wrong otherwise."""
    _check_name(name)
    _check_labels(labels)
    key = series_key(name, labels)
    ref = _refs.get(key)
    if ref is None:
        ref = _bounded(_refs)[key] = SeriesRef(name, labels)
    return ref


def metric_from(
    m: MetricIn, now: float, oldest: float
) -> tuple[SeriesRef, float, float, str | None]:
    """Judge one metric: (series, ts, value, id), or ValueError with the reason."""
    _check_name(m.name)
    if not math.isfinite(m.value):
        raise ValueError("value must be a finite number")
    ref = series_ref(m.name, m.labels)
    ts = _check_ts(m.ts, now, oldest)
    return ref, ts, m.value, _check_id(m.id)


def _severity(text: str) -> tuple[str, int]:
    known = _severities.get(text)
    if known is None:
        number = severity_number(text)
        if number == 0:
            raise ValueError(
                f"severity {text[:40]!r} is not one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL"
            )
        known = _bounded(_severities)[text] = (text.upper(), number)
    return known


def log_from(item: LogIn, now: float, oldest: float) -> tuple[LogRecord, str | None]:
    if len(item.body) > MAX_BODY:
        raise ValueError(f"body is longer than {MAX_BODY} characters")
    ts = _check_ts(item.ts, now, oldest)
    severity, number = _severity(item.severity)
    record = LogRecord(
        ts,
        item.body,
        severity,
        number,
        item.service[:256],
        item.version[:256],
        item.attributes,
        item.trace_id[:64],
        item.span_id[:32],
    )
    return record, _check_id(item.id)


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text.replace("Object", "item", 1) if text.startswith("Object") else text


_fields = attrgetter("name", "labels", "ts", "value", "id")
_DECODE_ERRORS = (msgspec.ValidationError, msgspec.DecodeError, ValueError)


def _fast_metrics(
    items: list[_FastMetric],
    series: dict[tuple[str, bytes], SeriesRef],
    decode_labels: Callable[[bytes], Labels],
    now: float,
    oldest: float,
) -> tuple[SampleColumns, list[str | None]] | None:
    """Check decoded metrics a column at a time; None if any item needs judging alone."""
    if not items:
        return SampleColumns(), []
    names, raw_labels, stamps, values_t, ids_t = zip(*map(_fields, items), strict=True)
    keys = list(zip(names, map(bytes, raw_labels), strict=True))
    refs = list(map(series.get, keys))
    if None in refs:
        for i, ref in enumerate(refs):
            if ref is None:
                name, raw = keys[i]
                try:
                    ref = series_ref(name, decode_labels(raw) if raw else {})
                except _DECODE_ERRORS:
                    return None
                refs[i] = _bounded(series)[keys[i]] = ref
    ts = list(stamps)
    if None in ts:
        ts = [now if t is None else t for t in ts]
    # A NaN or infinity anywhere makes the sum non-finite (so does an overflow of huge
    # finite values: those few batches take the per-item path, which accepts them).
    if not (math.isfinite(sum(ts)) and min(ts) >= oldest and max(ts) <= now + FUTURE_S):
        return None
    values = list(values_t)
    if not math.isfinite(sum(values)):
        return None
    ids = list(ids_t)
    given = [i for i in ids if i is not None] if None in ids else ids
    if given and (not all(given) or max(map(len, given)) > MAX_ID):
        return None
    return SampleColumns(refs, ts, values), ids  # type: ignore[arg-type]


_log_fields = attrgetter(
    "ts", "body", "severity", "attributes", "service", "version", "trace_id", "span_id", "id"
)
_LOG_LIMITS = ((1, MAX_BODY), (4, 256), (5, 256), (6, 64), (7, 32))


def _fast_logs(
    items: list[LogIn], now: float, oldest: float
) -> tuple[list[LogRecord], list[str | None]] | None:
    """``_fast_metrics`` for logs: the same checks as ``log_from``, a column at a time."""
    if not items:
        return [], []
    cols = list(zip(*map(_log_fields, items), strict=True))
    for i, limit in _LOG_LIMITS:  # the texts the per-item path would cut or reject
        if max(map(len, cols[i])) > limit:
            return None
    ts = list(cols[0])
    if None in ts:
        ts = [now if t is None else t for t in ts]
    if not (math.isfinite(sum(ts)) and min(ts) >= oldest and max(ts) <= now + FUTURE_S):
        return None
    try:  # a local table: the shared cache may be cleared while this batch is judged
        severity_of = {text: _severity(text) for text in set(cols[2])}
    except ValueError:
        return None
    ids = list(cols[8])
    given = [i for i in ids if i is not None] if None in ids else ids
    if given and (not all(given) or max(map(len, given)) > MAX_ID):
        return None
    sev = list(map(severity_of.__getitem__, cols[2]))
    records = list(
        map(
            LogRecord,
            ts,
            cols[1],
            map(_first, sev),
            map(_second, sev),
            *cols[4:6],
            cols[3],
            *cols[6:8],
        )
    )
    return records, ids


_first = itemgetter(0)
_second = itemgetter(1)


def parse_batch(body: bytes, content_type: str, *, now: float, oldest: float) -> ParsedBatch:
    """Decode and validate a batch; raise BatchError only if the body as a whole is unusable."""
    out = ParsedBatch()
    msgpack = "msgpack" in content_type
    fast_decoder, series, decode_labels = (
        (_mp_fast, _mp_series, _mp_labels.decode)
        if msgpack
        else (_json_fast, _json_series, _json_labels.decode)
    )
    try:
        typed: _FastEnvelope | None = fast_decoder.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError):
        typed = None  # some item is malformed: judge them one by one below
    if typed is not None:
        fast = _fast_metrics(typed.metrics, series, decode_labels, now, oldest)
        logs = _fast_logs(typed.logs, now, oldest) if fast is not None else None
        if fast is not None and logs is not None:
            out.samples, out.sample_ids = fast
            out.logs, out.log_ids = logs
            return out
    if msgpack:
        try:
            env = _mp_env.decode(body)
        except msgspec.DecodeError as exc:
            raise BatchError(f"the body is not a MessagePack object of lists: {exc}") from None
        unknown = set(env) - {"metrics", "logs"}
        if unknown:
            raise BatchError(f"unknown keys {sorted(unknown)}; expected 'metrics' and 'logs'")
        metrics_raw: list[Any] = env.get("metrics", [])
        logs_raw: list[Any] = env.get("logs", [])
        to_metric: Callable[[Any], MetricIn] = partial(msgspec.convert, type=MetricIn)
        to_log: Callable[[Any], LogIn] = partial(msgspec.convert, type=LogIn)
    else:
        try:
            jenv = _json_env.decode(body)
        except msgspec.ValidationError as exc:
            raise BatchError(
                f"the batch must be {{'metrics': [...], 'logs': [...]}}: {exc}"
            ) from None
        except msgspec.DecodeError as exc:
            raise BatchError(f"the body is not valid JSON: {exc}") from None
        metrics_raw, logs_raw = jenv.metrics, jenv.logs
        to_metric, to_log = _json_metric.decode, _json_log.decode
    _judge(
        out, "metrics", metrics_raw, lambda r: metric_from(to_metric(r), now, oldest), _keep_metric
    )
    _judge(out, "logs", logs_raw, lambda r: log_from(to_log(r), now, oldest), _keep_log)
    return out


def _keep_metric(out: ParsedBatch, judged: tuple[SeriesRef, float, float, str | None]) -> None:
    ref, ts, value, event_id = judged
    out.samples.refs.append(ref)
    out.samples.ts.append(ts)
    out.samples.values.append(value)
    out.sample_ids.append(event_id)


def _keep_log(out: ParsedBatch, judged: tuple[LogRecord, str | None]) -> None:
    out.logs.append(judged[0])
    out.log_ids.append(judged[1])


def _judge(
    out: ParsedBatch,
    kind: str,
    items: Sequence[Any],
    accept: Callable[[Any], T],
    keep: Callable[[ParsedBatch, T], None],
) -> None:
    """Run ``accept`` on each item alone: keep what passes, reject (with its payload) what
    does not, so one bad item never costs its neighbours."""
    for i, item in enumerate(items):
        try:
            judged = accept(item)
        except _DECODE_ERRORS as exc:
            out.rejected.append(Rejection(kind, i, _reason(exc), _payload(item)))
            continue
        keep(out, judged)


def _payload(raw: Any) -> str:
    if isinstance(raw, msgspec.Raw):
        return bytes(raw).decode("utf-8", errors="replace")
    try:
        return msgspec.json.encode(raw).decode()
    except (TypeError, msgspec.EncodeError):
        return repr(raw)
