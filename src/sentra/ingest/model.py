"""The native ingest format and its validation.

A batch is ``{"metrics": [...], "logs": [...]}`` in JSON or MessagePack. Every item is
decoded and checked on its own, so one bad item is rejected (and dead-lettered) while its
neighbours are kept.

metric: ``{"name", "value", "ts"?, "labels"?, "id"?}``
log:    ``{"body", "ts"?, "severity"?, "attributes"?, "service"?, "version"?, "id"?,
           "trace_id"?, "span_id"?}``
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import msgspec

from sentra.events import LogRecord, Sample, severity_number
from sentra.ingest.dedupe import id_hash

T = TypeVar("T")
E = TypeVar("E")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:/-]{0,254}$")
LABEL_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,127}$")
MAX_LABELS = 32
MAX_LABEL_VALUE = 1024
MAX_BODY = 65536
MAX_ID = 256
FUTURE_S = 86400.0


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


class Envelope(msgspec.Struct, forbid_unknown_fields=True):
    metrics: list[msgspec.Raw] = msgspec.field(default_factory=list)
    logs: list[msgspec.Raw] = msgspec.field(default_factory=list)


class TypedEnvelope(msgspec.Struct, forbid_unknown_fields=True):
    """The fast path: a batch whose every item has the right shape decodes in one call."""

    metrics: list[MetricIn] = msgspec.field(default_factory=list)
    logs: list[LogIn] = msgspec.field(default_factory=list)


@dataclass
class Rejection:
    kind: str
    index: int
    reason: str
    payload: str


@dataclass
class ParsedBatch:
    samples: list[Sample] = field(default_factory=list)
    sample_ids: list[int | None] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    log_ids: list[int | None] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def items(self) -> int:
        return len(self.samples) + len(self.logs) + len(self.rejected)


class BatchError(ValueError):
    """The body as a whole cannot be read (not JSON/msgpack, not an object)."""


_json_env = msgspec.json.Decoder(Envelope)
_json_typed = msgspec.json.Decoder(TypedEnvelope)
_valid_names: dict[str, None] = {}
_valid_keys: dict[str, None] = {}
_CACHE_MAX = 100_000
_json_metric = msgspec.json.Decoder(MetricIn)
_json_log = msgspec.json.Decoder(LogIn)
_mp_env = msgspec.msgpack.Decoder(dict[str, list[Any]])


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


def _check_id(event_id: str | None) -> int | None:
    if event_id is None:
        return None
    if not event_id or len(event_id) > MAX_ID:
        raise ValueError(f"id must be 1 to {MAX_ID} characters")
    return id_hash(event_id)


def _remember(cache: dict[str, None], text: str) -> None:
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    cache[text] = None


def metric_from(m: MetricIn, now: float, oldest: float) -> tuple[Sample, int | None]:
    if m.name not in _valid_names:  # names repeat: check each one once
        if not NAME.match(m.name):
            raise ValueError(
                f"name {m.name[:80]!r} is not a metric name (letters, digits, . _ : / -; "
                "starting with a letter or _; at most 255 characters)"
            )
        _remember(_valid_names, m.name)
    if not math.isfinite(m.value):
        raise ValueError("value must be a finite number")
    if len(m.labels) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} labels per sample")
    for k, v in m.labels.items():
        if k not in _valid_keys:
            if not LABEL_KEY.match(k):
                raise ValueError(f"label name {k[:80]!r} is not valid")
            _remember(_valid_keys, k)
        if len(v) > MAX_LABEL_VALUE:
            raise ValueError(f"label {k} is longer than {MAX_LABEL_VALUE} characters")
    ts = _check_ts(m.ts, now, oldest)
    return Sample(m.name, m.labels, ts, m.value), _check_id(m.id)


def log_from(item: LogIn, now: float, oldest: float) -> tuple[LogRecord, int | None]:
    if len(item.body) > MAX_BODY:
        raise ValueError(f"body is longer than {MAX_BODY} characters")
    ts = _check_ts(item.ts, now, oldest)
    number = severity_number(item.severity)
    if number == 0:
        raise ValueError(
            f"severity {item.severity[:40]!r} is not one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL"
        )
    record = LogRecord(
        ts=ts,
        body=item.body,
        severity=item.severity.upper(),
        severity_number=number,
        service=item.service[:256],
        version=item.version[:256],
        attributes=item.attributes,
        trace_id=item.trace_id[:64],
        span_id=item.span_id[:32],
    )
    return record, _check_id(item.id)


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text.replace("Object", "item", 1) if text.startswith("Object") else text


def parse_batch(body: bytes, content_type: str, *, now: float, oldest: float) -> ParsedBatch:
    """Decode and validate a batch; raise BatchError only if the body as a whole is unusable."""
    out = ParsedBatch()
    msgpack = "msgpack" in content_type
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
    else:
        try:
            typed = _json_typed.decode(body)
        except (msgspec.ValidationError, msgspec.DecodeError):
            typed = None  # some item is malformed: judge them one by one below
        if typed is not None:
            _validate_all(out, typed.metrics, typed.logs, now, oldest)
            return out
        try:
            jenv = _json_env.decode(body)
        except msgspec.ValidationError as exc:
            raise BatchError(
                f"the batch must be {{'metrics': [...], 'logs': [...]}}: {exc}"
            ) from None
        except msgspec.DecodeError as exc:
            raise BatchError(f"the body is not valid JSON: {exc}") from None
        metrics_raw, logs_raw = jenv.metrics, jenv.logs
    if msgpack:
        to_metric: Callable[[Any], MetricIn] = partial(msgspec.convert, type=MetricIn)
        to_log: Callable[[Any], LogIn] = partial(msgspec.convert, type=LogIn)
    else:
        to_metric, to_log = _json_metric.decode, _json_log.decode
    _judge(
        out,
        "metrics",
        metrics_raw,
        lambda raw: metric_from(to_metric(raw), now, oldest),
        out.samples,
        out.sample_ids,
    )
    _judge(
        out, "logs", logs_raw, lambda raw: log_from(to_log(raw), now, oldest), out.logs, out.log_ids
    )
    return out


def _validate_all(
    out: ParsedBatch, metrics: list[MetricIn], logs: list[LogIn], now: float, oldest: float
) -> None:
    """Validate items that already decoded."""
    _judge(
        out, "metrics", metrics, lambda m: metric_from(m, now, oldest), out.samples, out.sample_ids
    )
    _judge(out, "logs", logs, lambda item: log_from(item, now, oldest), out.logs, out.log_ids)


def _judge(
    out: ParsedBatch,
    kind: str,
    items: Sequence[T],
    accept: Callable[[T], tuple[E, int | None]],
    kept: list[E],
    ids: list[int | None],
) -> None:
    """Run ``accept`` on each item alone: keep what passes, reject (with its payload) what
    does not, so one bad item never costs its neighbours."""
    for i, item in enumerate(items):
        try:
            event, h = accept(item)
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
            out.rejected.append(Rejection(kind, i, _reason(exc), _payload(item)))
            continue
        kept.append(event)
        ids.append(h)


def _payload(raw: Any) -> str:
    if isinstance(raw, msgspec.Raw):
        return bytes(raw).decode("utf-8", errors="replace")
    try:
        return msgspec.json.encode(raw).decode()
    except (TypeError, msgspec.EncodeError):
        return repr(raw)
