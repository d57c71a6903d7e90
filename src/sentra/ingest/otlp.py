"""OTLP/HTTP decoding: traces, metrics and logs, protobuf or JSON, into Sentra's events.

Pure: no I/O and no clock (``now`` is passed in). Each span, data point and log record is
converted on its own, so a bad one is rejected (with a reason and a short JSON payload for
the dead-letter record) while its neighbours are kept. Only a body that cannot be read as
an export request at all raises ``OtlpDecodeError`` (the API answers 400).

JSON follows OTLP/JSON: ids are hex strings (base64 is accepted too), enums are names or
numbers, 64-bit integers are strings or numbers, keys are lowerCamelCase or snake_case. In
JSON every item is parsed separately, so a malformed span costs only that span; a protobuf
body is decoded whole by ``FromString``.

Mapping (see docs/otlp.md):

- spans: service = resource ``service.name`` (default ``unknown_service``), version =
  ``service.version``; attributes = the resource's ``deployment.*``, ``k8s.*`` and
  ``sentra.*`` attributes overlaid by the span's own; dedupe id = trace id + span id, so an
  exporter's retry is not stored twice.
- metrics: gauge and sum points are samples of ``<name>``; histogram, exponential
  histogram and summary points become ``<name>.count``, ``.sum``, ``.min``, ``.max`` (when
  sent) and the quantiles ``.p50``, ``.p90``, ``.p95``, ``.p99`` (a summary gives the
  quantiles it carries). Labels are the point's attributes plus ``service`` and
  ``version``.
- logs: body (a string, or the JSON of any other value), severity from the number (or the
  text), service/version, attributes, trace and span ids, time.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_svc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_svc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_svc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from sentra.events import LogRecord, Sample, Span
from sentra.ingest.dedupe import id_hash
from sentra.ingest.model import FUTURE_S, LABEL_KEY, MAX_BODY, MAX_LABEL_VALUE, MAX_LABELS, NAME

T = TypeVar("T")

PROTOBUF = "protobuf"
JSON = "json"
DEFAULT_SERVICE = "unknown_service"
RESOURCE_PREFIXES = ("deployment.", "k8s.", "sentra.")
QUANTILES = (0.5, 0.9, 0.95, 0.99)
MAX_PAYLOAD = 8192
MAX_EVENTS = 32
_KINDS = ("internal", "internal", "server", "client", "producer", "consumer")
_STATUS = ("unset", "ok", "error")
_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
_NOT_NAME = re.compile(r"[^A-Za-z0-9_.:/-]")
_NOT_LABEL = re.compile(r"[^A-Za-z0-9_.]")
_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})+$")
_ID_KEYS = frozenset({"traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id"})
_NO_RECORDED_VALUE = 1


class OtlpDecodeError(ValueError):
    """The body as a whole is not an OTLP export request in the declared encoding."""


@dataclass
class Rejected:
    """One item (or a group of them, ``items``) that could not be converted."""

    where: str
    reason: str
    payload: str
    items: int = 1


@dataclass
class Decoded(Generic[T]):
    """What to store (events and their dedupe ids, in step) and what was rejected."""

    events: list[T] = field(default_factory=list)
    ids: list[int | None] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def rejected_items(self) -> int:
        return sum(r.items for r in self.rejected)

    def summary(self, what: str, *, shown: int = 3) -> str:
        """The partial-success error message: how many were rejected and the first reasons."""
        if not self.rejected:
            return ""
        reasons = "; ".join(f"{r.where}: {r.reason}" for r in self.rejected[:shown])
        more = len(self.rejected) - shown
        tail = f" (and {more} more; see /api/v1/deadletters)" if more > 0 else ""
        return f"rejected {self.rejected_items} {what}: {reasons}{tail}"


class _Bad(ValueError):
    """An item cannot be converted; the message is the reason given back to the client."""


def encoding_of(content_type: str) -> str | None:
    """``protobuf`` or ``json`` for an OTLP/HTTP Content-Type; None when neither."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in ("application/x-protobuf", "application/protobuf"):
        return PROTOBUF
    if media == "application/json":
        return JSON
    return None


# ------------------------------------------------------------------------ values and ids


def any_value(v: Any) -> Any:
    """An AnyValue as a JSON-able value: arrays → list, kvlist → dict, bytes → base64."""
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return v.string_value
    if kind == "int_value":
        return v.int_value
    if kind == "double_value":
        d = v.double_value
        return d if math.isfinite(d) else str(d)
    if kind == "bool_value":
        return v.bool_value
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return None


def attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs}


def _hex_id(raw: bytes, size: int, what: str, *, required: bool) -> str:
    if not raw or not any(raw):
        if required:
            raise _Bad(f"{what} is missing or all zero")
        return ""
    if len(raw) != size:
        raise _Bad(f"{what} must be {size} bytes, got {len(raw)}")
    return raw.hex()


def _seconds(nanos: int) -> float:
    return nanos / 1e9


def _check_ts(ts: float, now: float, oldest: float, what: str) -> float:
    if ts > now + FUTURE_S:
        raise _Bad(f"{what} {ts:.3f} is more than a day in the future")
    if ts < oldest:
        raise _Bad(f"{what} {ts:.3f} is older than the retention")
    return ts


@dataclass
class _Resource:
    service: str
    version: str
    extra: dict[str, Any]


def _resource(res: Any) -> _Resource:
    attrs = attributes(res.attributes)
    service = attrs.get("service.name")
    version = attrs.get("service.version")
    return _Resource(
        service=str(service)[:256] if service not in (None, "") else DEFAULT_SERVICE,
        version=str(version)[:256] if version is not None else "",
        extra={k: v for k, v in attrs.items() if k.startswith(RESOURCE_PREFIXES)},
    )


def _payload(item: Any) -> str:
    """A short JSON rendering of an item for the dead-letter record (ids in hex)."""
    data: Any = item  # a raw JSON item
    if hasattr(item, "DESCRIPTOR"):  # a protobuf message
        try:
            data = json_format.MessageToDict(item)
        except (TypeError, ValueError) as exc:
            data = {"unrenderable": str(exc)}
        _ids_to_hex(data)
    text = json.dumps(data, separators=(",", ":"), default=str)
    if len(text) > MAX_PAYLOAD:
        text = json.dumps({"truncated": True, "prefix": text[: MAX_PAYLOAD - 64]})
    return text


def _ids_to_hex(node: Any) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if k in _ID_KEYS and isinstance(v, str):
                with contextlib.suppress(binascii.Error, ValueError):
                    node[k] = base64.b64decode(v, validate=True).hex()
            else:
                _ids_to_hex(v)
    elif isinstance(node, list):
        for v in node:
            _ids_to_hex(v)


# --------------------------------------------------------------------------- walking


@dataclass
class _Group:
    """The items sent under one resource and one scope (both encodings end up here)."""

    path: str
    resource: _Resource
    scope: Any
    items: list[tuple[str, Any]]  # (path, message | Rejected)


def _get(d: dict[str, Any], camel: str, snake: str) -> Any:
    return d[camel] if camel in d else d.get(snake)


def _hex_ids_for_json(node: Any) -> Any:
    """OTLP/JSON ids are hex; json_format expects base64: convert (base64 input is kept)."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            if k in _ID_KEYS and isinstance(v, str) and _HEX.match(v):
                out[k] = base64.b64encode(bytes.fromhex(v)).decode()
            else:
                out[k] = _hex_ids_for_json(v)
        return out
    if isinstance(node, list):
        return [_hex_ids_for_json(v) for v in node]
    return node


def _parse(raw: Any, cls: Callable[[], Any]) -> Any:
    if not isinstance(raw, dict):
        raise _Bad(f"expected a JSON object, got {type(raw).__name__}")
    try:
        return json_format.ParseDict(_hex_ids_for_json(raw), cls(), ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise _Bad(str(exc).splitlines()[0][:300]) from None
    except RecursionError:
        raise _Bad("the item is nested too deeply") from None


def _json_doc(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise OtlpDecodeError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise OtlpDecodeError("the body must be a JSON object (an OTLP export request)")
    return doc


def _json_list(d: dict[str, Any], camel: str, snake: str, where: str) -> list[Any]:
    value = _get(d, camel, snake)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(f"{where}.{camel} must be a list")
    return value


def _groups_json(
    doc: dict[str, Any],
    keys: tuple[tuple[str, str], tuple[str, str], tuple[str, str]],
    parse_item: Callable[[Any], Any],
    out: list[Rejected],
) -> Iterator[_Group]:
    (res_c, res_s), (scope_c, scope_s), (item_c, item_s) = keys
    try:
        resources = _json_list(doc, res_c, res_s, "request")
    except _Bad as exc:
        raise OtlpDecodeError(str(exc)) from None
    for r, raw_res in enumerate(resources):
        rpath = f"{res_c}[{r}]"
        try:
            if not isinstance(raw_res, dict):
                raise _Bad("expected a JSON object")
            resource = _resource(_parse(raw_res.get("resource", {}), resource_pb2.Resource))
            scopes = _json_list(raw_res, scope_c, scope_s, rpath)
        except _Bad as exc:
            out.append(Rejected(rpath, str(exc), _payload(raw_res), _count_json(raw_res, keys)))
            continue
        for s, raw_scope in enumerate(scopes):
            spath = f"{rpath}.{scope_c}[{s}]"
            try:
                if not isinstance(raw_scope, dict):
                    raise _Bad("expected a JSON object")
                scope = _parse(raw_scope.get("scope", {}), common_pb2.InstrumentationScope)
                raw_items = _json_list(raw_scope, item_c, item_s, spath)
            except _Bad as exc:
                sent = _get(raw_scope, item_c, item_s) if isinstance(raw_scope, dict) else None
                n = len(sent) if isinstance(sent, list) else 0
                out.append(Rejected(spath, str(exc), _payload(raw_scope), n))
                continue
            items: list[tuple[str, Any]] = []
            for i, raw in enumerate(raw_items):
                ipath = f"{spath}.{item_c}[{i}]"
                try:
                    items.append((ipath, parse_item(raw)))
                except _Bad as exc:
                    items.append((ipath, Rejected(ipath, str(exc), _payload(raw))))
            yield _Group(spath, resource, scope, items)


def _count_json(raw_res: Any, keys: tuple[tuple[str, str], ...]) -> int:
    if not isinstance(raw_res, dict):
        return 0
    scopes = _get(raw_res, *keys[1])
    if not isinstance(scopes, list):
        return 0
    n = 0
    for sc in scopes:
        if isinstance(sc, dict) and isinstance(items := _get(sc, *keys[2]), list):
            n += len(items)
    return n


def _groups_pb(
    request: Any, res_field: str, scope_field: str, item_field: str, names: tuple[str, str, str]
) -> Iterator[_Group]:
    for r, rs in enumerate(getattr(request, res_field)):
        resource = _resource(rs.resource)
        for s, ss in enumerate(getattr(rs, scope_field)):
            path = f"{names[0]}[{r}].{names[1]}[{s}]"
            items = [
                (f"{path}.{names[2]}[{i}]", item) for i, item in enumerate(getattr(ss, item_field))
            ]
            yield _Group(path, resource, ss.scope, items)


def _from_pb(cls: Any, body: bytes, what: str) -> Any:
    try:
        return cls.FromString(body)
    except (DecodeError, ValueError) as exc:
        raise OtlpDecodeError(f"the body is not a protobuf {what}: {exc}") from None


# ---------------------------------------------------------------------------- traces


def decode_traces(
    body: bytes, content_type: str, now: float, *, oldest: float = 0.0
) -> Decoded[Span]:
    """An ExportTraceServiceRequest → spans (dedupe id: trace id + span id)."""
    out: Decoded[Span] = Decoded()
    if encoding_of(content_type) == JSON:
        keys = (
            ("resourceSpans", "resource_spans"),
            ("scopeSpans", "scope_spans"),
            ("spans", "spans"),
        )
        groups = _groups_json(
            _json_doc(body), keys, lambda raw: _parse(raw, trace_pb2.Span), out.rejected
        )
    else:
        request = _from_pb(trace_svc.ExportTraceServiceRequest, body, "ExportTraceServiceRequest")
        names = ("resourceSpans", "scopeSpans", "spans")
        groups = _groups_pb(request, "resource_spans", "scope_spans", "spans", names)
    for group in groups:
        scope_name = group.scope.name
        for path, item in group.items:
            if isinstance(item, Rejected):
                out.rejected.append(item)
                continue
            try:
                span = _span(item, group.resource, scope_name, now, oldest)
            except _Bad as exc:
                out.rejected.append(Rejected(path, str(exc), _payload(item)))
                continue
            out.events.append(span)
            out.ids.append(id_hash(span.trace_id + span.span_id))
    return out


def _span(s: Any, res: _Resource, scope_name: str, now: float, oldest: float) -> Span:
    trace_id = _hex_id(s.trace_id, 16, "trace_id", required=True)
    span_id = _hex_id(s.span_id, 8, "span_id", required=True)
    parent_id = _hex_id(s.parent_span_id, 8, "parent_span_id", required=False)
    if not s.start_time_unix_nano:
        raise _Bad("start_time_unix_nano is missing")
    if s.end_time_unix_nano < s.start_time_unix_nano:
        raise _Bad("end_time_unix_nano is before start_time_unix_nano")
    start = _check_ts(_seconds(s.start_time_unix_nano), now, oldest, "start time")
    attrs = dict(res.extra)
    attrs.update(attributes(s.attributes))
    if scope_name:
        attrs["otel.scope.name"] = scope_name
    if s.events:
        attrs["otel.events"] = [
            {
                "name": e.name,
                "ts": _seconds(e.time_unix_nano),
                "attributes": attributes(e.attributes),
            }
            for e in s.events[:MAX_EVENTS]
        ]
    kind = s.kind
    code = s.status.code
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        name=s.name[:1024],
        start=start,
        end=_seconds(s.end_time_unix_nano),
        parent_id=parent_id,
        service=res.service,
        version=res.version,
        kind=_KINDS[kind] if 0 <= kind < len(_KINDS) else "internal",
        status=_STATUS[code] if 0 <= code < len(_STATUS) else "unset",
        status_message=s.status.message[:4096],
        attributes=attrs,
    )


# ------------------------------------------------------------------------------ logs


def decode_logs(
    body: bytes, content_type: str, now: float, *, oldest: float = 0.0
) -> Decoded[LogRecord]:
    """An ExportLogsServiceRequest → log records (no dedupe id: OTLP logs carry none)."""
    out: Decoded[LogRecord] = Decoded()
    if encoding_of(content_type) == JSON:
        keys = (
            ("resourceLogs", "resource_logs"),
            ("scopeLogs", "scope_logs"),
            ("logRecords", "log_records"),
        )
        groups = _groups_json(
            _json_doc(body), keys, lambda raw: _parse(raw, logs_pb2.LogRecord), out.rejected
        )
    else:
        request = _from_pb(logs_svc.ExportLogsServiceRequest, body, "ExportLogsServiceRequest")
        names = ("resourceLogs", "scopeLogs", "logRecords")
        groups = _groups_pb(request, "resource_logs", "scope_logs", "log_records", names)
    for group in groups:
        for path, item in group.items:
            if isinstance(item, Rejected):
                out.rejected.append(item)
                continue
            try:
                record = _log(item, group.resource, now, oldest)
            except _Bad as exc:
                out.rejected.append(Rejected(path, str(exc), _payload(item)))
                continue
            out.events.append(record)
            out.ids.append(None)
    return out


def severity_of(number: int, text: str) -> tuple[str, int]:
    """(level name, OTel severity number): from the number (1-24) when set, else the text."""
    if 1 <= number <= 24:
        return _LEVELS[(number - 1) // 4], number
    if number:
        raise _Bad(f"severity_number {number} is not between 0 and 24")
    key = text.strip().upper()
    key = {"WARNING": "WARN", "CRITICAL": "FATAL", "ERR": "ERROR"}.get(key, key)
    if key in _LEVELS:
        return key, 1 + 4 * _LEVELS.index(key)
    return (key[:32] or "UNSPECIFIED"), 0


def _log(r: Any, res: _Resource, now: float, oldest: float) -> LogRecord:
    value = any_value(r.body) if r.HasField("body") else None
    body = value if isinstance(value, str) else ("" if value is None else json.dumps(value))
    if len(body) > MAX_BODY:
        raise _Bad(f"body is longer than {MAX_BODY} characters")
    nanos = r.time_unix_nano or r.observed_time_unix_nano
    ts = _check_ts(_seconds(nanos), now, oldest, "time") if nanos else now
    severity, number = severity_of(r.severity_number, r.severity_text)
    attrs = dict(res.extra)
    attrs.update(attributes(r.attributes))
    if r.event_name:
        attrs["event.name"] = r.event_name
    return LogRecord(
        ts=ts,
        body=body,
        severity=severity,
        severity_number=number,
        service=res.service,
        version=res.version,
        attributes=attrs,
        trace_id=_hex_id(r.trace_id, 16, "trace_id", required=False),
        span_id=_hex_id(r.span_id, 8, "span_id", required=False),
    )


# --------------------------------------------------------------------------- metrics

_POINT_TYPES: dict[str, Callable[[], Any]] = {
    "gauge": metrics_pb2.NumberDataPoint,
    "sum": metrics_pb2.NumberDataPoint,
    "histogram": metrics_pb2.HistogramDataPoint,
    "exponential_histogram": metrics_pb2.ExponentialHistogramDataPoint,
    "summary": metrics_pb2.SummaryDataPoint,
}
_JSON_KINDS = {
    "gauge": "gauge",
    "sum": "sum",
    "histogram": "histogram",
    "exponentialHistogram": "exponential_histogram",
    "exponential_histogram": "exponential_histogram",
    "summary": "summary",
}


@dataclass
class _Metric:
    name: str
    kind: str
    points: list[tuple[str, Any]]  # (path suffix, point message | Rejected)


def _metric_pb(m: Any) -> _Metric:
    kind = m.WhichOneof("data") or ""
    points = getattr(m, kind).data_points if kind else []
    return _Metric(m.name, kind, [(f"dataPoints[{j}]", p) for j, p in enumerate(points)])


def _metric_json(raw: Any) -> _Metric:
    if not isinstance(raw, dict):
        raise _Bad(f"expected a JSON object, got {type(raw).__name__}")
    name = raw.get("name")
    if not isinstance(name, str):
        raise _Bad("name must be a string")
    found = [k for k in raw if k in _JSON_KINDS]
    if not found:
        return _Metric(name, "", [])
    data = raw[found[0]]
    kind = _JSON_KINDS[found[0]]
    if not isinstance(data, dict):
        raise _Bad(f"{found[0]} must be a JSON object")
    raw_points = _get(data, "dataPoints", "data_points") or []
    if not isinstance(raw_points, list):
        raise _Bad(f"{found[0]}.dataPoints must be a list")
    points: list[tuple[str, Any]] = []
    for j, p in enumerate(raw_points):
        where = f"dataPoints[{j}]"
        try:
            points.append((where, _parse(p, _POINT_TYPES[kind])))
        except _Bad as exc:
            points.append((where, Rejected(where, str(exc), _payload(p))))
    return _Metric(name, kind, points)


def decode_metrics(
    body: bytes, content_type: str, now: float, *, oldest: float = 0.0
) -> Decoded[Sample]:
    """An ExportMetricsServiceRequest → samples; ``Rejected.items`` counts data points."""
    out: Decoded[Sample] = Decoded()
    if encoding_of(content_type) == JSON:
        keys = (
            ("resourceMetrics", "resource_metrics"),
            ("scopeMetrics", "scope_metrics"),
            ("metrics", "metrics"),
        )
        groups = _groups_json(_json_doc(body), keys, _metric_json, out.rejected)
    else:
        request = _from_pb(
            metrics_svc.ExportMetricsServiceRequest, body, "ExportMetricsServiceRequest"
        )
        names = ("resourceMetrics", "scopeMetrics", "metrics")
        groups = _groups_pb(request, "resource_metrics", "scope_metrics", "metrics", names)
    for group in groups:
        base = {"service": group.resource.service}
        if group.resource.version:
            base["version"] = group.resource.version
        for path, item in group.items:
            if isinstance(item, Rejected):
                out.rejected.append(item)
                continue
            metric = item if isinstance(item, _Metric) else _metric_pb(item)
            _metric(metric, path, base, now, oldest, out)
    return out


def metric_name(name: str) -> str:
    """The native series name for an instrument name (invalid characters become ``_``)."""
    clean = _NOT_NAME.sub("_", name)
    if clean and not (clean[0].isascii() and (clean[0].isalpha() or clean[0] == "_")):
        clean = "_" + clean
    return clean


def _metric(
    m: _Metric, path: str, base: dict[str, str], now: float, oldest: float, out: Decoded[Sample]
) -> None:
    name = metric_name(m.name)
    problem = ""
    if not name:
        problem = "the metric has no name"
    elif not NAME.match(name + ".count"):
        problem = f"name {m.name[:80]!r} is too long (at most 248 characters)"
    elif not m.kind:
        problem = "the metric has no gauge, sum, histogram, exponential histogram or summary"
    if problem:
        good = [p for _, p in m.points if not isinstance(p, Rejected)]
        out.rejected.append(Rejected(path, problem, _payload({"name": m.name}), len(good)))
        for where, p in m.points:
            if isinstance(p, Rejected):
                p.where = f"{path}.{where}"
                out.rejected.append(p)
        return
    convert = _CONVERT[m.kind]
    for where, point in m.points:
        ppath = f"{path}.{where}"
        if isinstance(point, Rejected):
            point.where = ppath
            out.rejected.append(point)
            continue
        if point.flags & _NO_RECORDED_VALUE:
            continue  # an explicit "no value" marker (staleness), not an error
        try:
            labels = _labels(point.attributes, base)
            nanos = point.time_unix_nano
            ts = _check_ts(_seconds(nanos), now, oldest, "time") if nanos else now
            values = convert(point)
            for suffix, value in values:
                if not math.isfinite(value):
                    raise _Bad(f"{name}{suffix} is not a finite number ({value})")
        except _Bad as exc:
            out.rejected.append(Rejected(ppath, str(exc), _payload(point)))
            continue
        for suffix, value in values:
            out.events.append(Sample(name + suffix, labels, ts, value))
            out.ids.append(None)


def _labels(kvs: Any, base: dict[str, str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for kv in kvs:
        key = _NOT_LABEL.sub("_", kv.key)[:128]
        if not key or not LABEL_KEY.match(key):
            key = ("_" + key)[:128]
        value = any_value(kv.value)
        text = value if isinstance(value, str) else json.dumps(value)
        if len(text) > MAX_LABEL_VALUE:
            raise _Bad(f"attribute {kv.key[:80]} is longer than {MAX_LABEL_VALUE} characters")
        labels[key] = text
    labels.update(base)
    if len(labels) > MAX_LABELS:
        raise _Bad(f"at most {MAX_LABELS} attributes per point (with service and version)")
    return labels


def _number(p: Any) -> list[tuple[str, float]]:
    kind = p.WhichOneof("value")
    if kind == "as_double":
        return [("", p.as_double)]
    if kind == "as_int":
        return [("", float(p.as_int))]
    raise _Bad("the point has no value (as_int or as_double)")


def _common(p: Any, has_sum: bool) -> list[tuple[str, float]]:
    out = [(".count", float(p.count))]
    if has_sum:
        out.append((".sum", p.sum))
    if p.HasField("min"):
        out.append((".min", p.min))
    if p.HasField("max"):
        out.append((".max", p.max))
    return out


def _bounds(p: Any) -> tuple[float | None, float | None]:
    return (p.min if p.HasField("min") else None, p.max if p.HasField("max") else None)


def _histogram(p: Any) -> list[tuple[str, float]]:
    out = _common(p, p.HasField("sum"))
    bounds, counts = list(p.explicit_bounds), list(p.bucket_counts)
    if not counts:
        return out
    if len(counts) != len(bounds) + 1:
        raise _Bad(
            f"bucket_counts has {len(counts)} entries; explicit_bounds has {len(bounds)} "
            "(there must be one more count than bounds)"
        )
    if any(b >= a for a, b in zip(bounds[1:], bounds, strict=False)) or not all(
        math.isfinite(b) for b in bounds
    ):
        raise _Bad("explicit_bounds must be finite and strictly increasing")
    lo, hi = _bounds(p)
    mean = p.sum / sum(counts) if p.HasField("sum") and sum(counts) else None
    out.extend(_quantiles(explicit_buckets(bounds, counts, lo, hi, mean), lo, hi))
    return out


def explicit_buckets(
    bounds: Sequence[float],
    counts: Sequence[int],
    lo: float | None = None,
    hi: float | None = None,
    mean: float | None = None,
) -> list[tuple[float, float, int]]:
    """(lower, upper, count) per bucket of an explicit-bounds histogram.

    The open ends are closed with the observed min/max when sent; otherwise the first
    bucket starts at 0 (at its bound if that is negative) and the last one is taken to end
    at its lower bound (as Prometheus' histogram_quantile does). With no bounds at all the
    single bucket spans [min, max], or collapses onto the mean."""
    if not bounds:
        centre = mean if mean is not None else 0.0
        return [(lo if lo is not None else centre, hi if hi is not None else centre, counts[0])]
    edges = [lo if lo is not None else min(0.0, bounds[0]), *bounds]
    edges.append(hi if hi is not None else bounds[-1])
    return [(edges[i], edges[i + 1], c) for i, c in enumerate(counts)]


def exponential_buckets(p: Any) -> list[tuple[float, float, int]]:
    """(lower, upper, count) per bucket of an exponential histogram, in value order: the
    negative buckets, the zero bucket, then the positive ones (base = 2^(2^-scale))."""
    try:
        base = 2.0 ** (2.0**-p.scale)

        def edge(index: int) -> float:
            return float(base**index)

        neg = [
            (-edge(p.negative.offset + k + 1), -edge(p.negative.offset + k), c)
            for k, c in enumerate(p.negative.bucket_counts)
        ]
        pos = [
            (edge(p.positive.offset + k), edge(p.positive.offset + k + 1), c)
            for k, c in enumerate(p.positive.bucket_counts)
        ]
    except OverflowError:
        raise _Bad(f"scale {p.scale} and the bucket offsets overflow a double") from None
    zero = [(-p.zero_threshold, p.zero_threshold, p.zero_count)] if p.zero_count else []
    return [*reversed(neg), *zero, *pos]


def _exponential(p: Any) -> list[tuple[str, float]]:
    out = _common(p, p.HasField("sum"))
    lo, hi = _bounds(p)
    out.extend(_quantiles(exponential_buckets(p), lo, hi))
    return out


def _summary(p: Any) -> list[tuple[str, float]]:
    out = [(".count", float(p.count)), (".sum", p.sum)]
    for qv in p.quantile_values:
        if not 0.0 <= qv.quantile <= 1.0:
            raise _Bad(f"quantile {qv.quantile} is not between 0 and 1")
        out.append((f".p{qv.quantile * 100:.6g}", qv.value))
    return out


def quantile(
    buckets: Sequence[tuple[float, float, int]],
    q: float,
    lo: float | None = None,
    hi: float | None = None,
) -> float | None:
    """The q-quantile (0..1) of bucketed counts, by linear interpolation inside the bucket
    that holds rank q·total (values assumed spread evenly across each bucket), clamped to
    the observed [min, max] when known. None when the buckets are empty."""
    total = sum(c for _, _, c in buckets)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for lower, upper, count in buckets:
        if count <= 0:
            continue
        if seen + count >= rank:
            value = lower + (upper - lower) * max(rank - seen, 0.0) / count
            if lo is not None:
                value = max(value, lo)
            if hi is not None:
                value = min(value, hi)
            return value
        seen += count
    return None  # unreachable: the last non-empty bucket always holds rank = total


def _quantiles(
    buckets: Sequence[tuple[float, float, int]], lo: float | None, hi: float | None
) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    for q in QUANTILES:
        value = quantile(buckets, q, lo, hi)
        if value is not None:
            out.append((f".p{q * 100:.6g}", value))
    return out


_CONVERT: dict[str, Callable[[Any], list[tuple[str, float]]]] = {
    "gauge": _number,
    "sum": _number,
    "histogram": _histogram,
    "exponential_histogram": _exponential,
    "summary": _summary,
}


# -------------------------------------------------------------------------- answers

_RESPONSES: dict[str, tuple[Any, Any, str]] = {
    "traces": (
        trace_svc.ExportTraceServiceResponse,
        trace_svc.ExportTracePartialSuccess,
        "rejected_spans",
    ),
    "metrics": (
        metrics_svc.ExportMetricsServiceResponse,
        metrics_svc.ExportMetricsPartialSuccess,
        "rejected_data_points",
    ),
    "logs": (
        logs_svc.ExportLogsServiceResponse,
        logs_svc.ExportLogsPartialSuccess,
        "rejected_log_records",
    ),
}


def export_response(signal: str, rejected: int, message: str, encoding: str) -> bytes:
    """The Export*ServiceResponse for ``signal`` (traces, metrics, logs) in ``encoding``;
    ``partial_success`` is set only when something was rejected or there is a message."""
    response_cls, partial_cls, count_field = _RESPONSES[signal]
    response = response_cls()
    if rejected or message:
        partial = partial_cls(error_message=message, **{count_field: rejected})
        response.partial_success.CopyFrom(partial)
    if encoding == JSON:
        return json.dumps(json_format.MessageToDict(response), separators=(",", ":")).encode()
    data: bytes = response.SerializeToString()
    return data
