"""OTLP decoding (sentra.ingest.otlp): both encodings, per-item rejection, the mapping onto
spans, samples and log records, and the histogram quantile estimates."""

from __future__ import annotations

import gzip
import json
import random

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from sentra.ingest import otlp
from sentra.ingest.dedupe import id_hash

NOW = 1_750_000_000.0
NS = 1_000_000_000
PB = "application/x-protobuf"
JS = "application/json"
TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
TRACE_HEX = TRACE.hex()


def kv(key, value):
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    if isinstance(value, bytes):
        return KeyValue(key=key, value=AnyValue(bytes_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


RESOURCE = [
    kv("service.name", "checkout"),
    kv("service.version", "1.4.2"),
    kv("deployment.environment", "prod"),
    kv("k8s.pod.name", "checkout-7f9"),
    kv("host.name", "box1"),
]


def span(span_id: bytes, *, parent=b"", trace=TRACE, **fields):
    start = int((NOW - 2) * NS)
    base = {
        "trace_id": trace,
        "span_id": span_id,
        "parent_span_id": parent,
        "name": "GET /cart",
        "kind": trace_pb2.Span.SPAN_KIND_SERVER,
        "start_time_unix_nano": start,
        "end_time_unix_nano": start + 250_000_000,
    }
    base.update(fields)
    return trace_pb2.Span(**base)


def trace_request(*spans):
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(RESOURCE)
    ss = rs.scope_spans.add()
    ss.scope.name = "shop.http"
    ss.spans.extend(spans)
    return req


# ------------------------------------------------------------------------------ traces


def test_protobuf_spans_keep_ids_service_status_duration_and_deployment_attributes():
    parent = span(b"\x01" * 8)
    child = span(
        b"\x02" * 8,
        parent=b"\x01" * 8,
        name="charge",
        kind=trace_pb2.Span.SPAN_KIND_CLIENT,
        status=trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_ERROR, message="declined"),
        attributes=[kv("http.status_code", 502), kv("retry", True), kv("blob", b"\x00\xff")],
    )
    out = otlp.decode_traces(trace_request(parent, child).SerializeToString(), PB, NOW)
    assert out.rejected == []
    p, c = out.events
    assert (p.trace_id, p.span_id, p.parent_id) == (TRACE_HEX, "01" * 8, "")
    assert (c.parent_id, c.kind, c.status, c.status_message) == (
        "01" * 8,
        "client",
        "error",
        "declined",
    )
    assert (p.service, p.version, p.kind, p.status) == ("checkout", "1.4.2", "server", "unset")
    assert p.start == pytest.approx(NOW - 2) and p.duration_ms == pytest.approx(250.0)
    assert c.attributes["deployment.environment"] == "prod"
    assert c.attributes["k8s.pod.name"] == "checkout-7f9"
    assert "host.name" not in c.attributes
    assert c.attributes["http.status_code"] == 502 and c.attributes["retry"] is True
    assert c.attributes["blob"] == "AP8="
    assert out.ids == [id_hash(TRACE_HEX + "01" * 8), id_hash(TRACE_HEX + "02" * 8)]


def test_a_bad_span_is_rejected_alone_and_its_neighbours_are_kept():
    good = span(b"\x01" * 8)
    zero_trace = span(b"\x02" * 8, trace=b"\x00" * 16)
    short_id = span(b"\x03" * 4)
    backwards = span(b"\x04" * 8, end_time_unix_nano=1)
    also_good = span(b"\x05" * 8)
    body = trace_request(good, zero_trace, short_id, backwards, also_good).SerializeToString()
    out = otlp.decode_traces(body, PB, NOW)
    assert [s.span_id for s in out.events] == ["01" * 8, "05" * 8]
    assert out.rejected_items == 3
    reasons = {r.where: r.reason for r in out.rejected}
    assert reasons["resourceSpans[0].scopeSpans[0].spans[1]"] == "trace_id is missing or all zero"
    assert "8 bytes" in reasons["resourceSpans[0].scopeSpans[0].spans[2]"]
    assert "before" in reasons["resourceSpans[0].scopeSpans[0].spans[3]"]
    payload = json.loads(out.rejected[0].payload)
    assert payload["spanId"] == "02" * 8  # ids in the dead letter are hex, as in OTLP/JSON
    assert out.summary("spans").startswith("rejected 3 spans: resourceSpans[0]")


def test_missing_service_name_is_unknown_service():
    req = ExportTraceServiceRequest()
    req.resource_spans.add().scope_spans.add().spans.append(span(b"\x01" * 8))
    (s,) = otlp.decode_traces(req.SerializeToString(), PB, NOW).events
    assert (s.service, s.version) == ("unknown_service", "")


def test_spans_outside_retention_or_far_in_the_future_are_rejected():
    old = span(b"\x01" * 8, start_time_unix_nano=int((NOW - 900) * NS))
    future = span(
        b"\x02" * 8,
        start_time_unix_nano=int((NOW + 2 * 86400) * NS),
        end_time_unix_nano=int((NOW + 2 * 86400 + 1) * NS),
    )
    out = otlp.decode_traces(
        trace_request(old, future).SerializeToString(), PB, NOW, oldest=NOW - 600
    )
    assert out.events == []
    assert ["retention" in r.reason or "future" in r.reason for r in out.rejected] == [True, True]


def test_undecodable_protobuf_is_an_error_for_the_whole_body():
    with pytest.raises(otlp.OtlpDecodeError, match="protobuf"):
        otlp.decode_traces(b"\xff\xff\xff\xff not protobuf", PB, NOW)


def json_trace(*spans, resource=None):
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": resource
                        or [
                            {"key": "service.name", "value": {"stringValue": "cart"}},
                            {"key": "service.version", "value": {"stringValue": "2.0.0"}},
                            {"key": "sentra.rollout", "value": {"stringValue": "r-17"}},
                        ]
                    },
                    "scopeSpans": [{"scope": {"name": "cart"}, "spans": list(spans)}],
                }
            ]
        }
    ).encode()


def json_span(span_id="eee19b7ec3c1b174", **extra):
    start = int((NOW - 1) * NS)
    out = {
        "traceId": TRACE_HEX,
        "spanId": span_id,
        "parentSpanId": "eee19b7ec3c1b173",
        "name": "I'm a server span",
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 1_000_000),
        "kind": 2,
        "attributes": [
            {
                "key": "tags",
                "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "7"}]}},
            },
            {
                "key": "obj",
                "value": {"kvlistValue": {"values": [{"key": "k", "value": {"doubleValue": 1.5}}]}},
            },
        ],
    }
    out.update(extra)
    return out


def test_json_spans_take_hex_ids_enum_names_or_numbers_and_string_int64():
    body = json_trace(
        json_span(),
        json_span("0102030405060708", kind="SPAN_KIND_CONSUMER", status={"code": "STATUS_CODE_OK"}),
    )
    out = otlp.decode_traces(body, JS, NOW)
    assert out.rejected == []
    a, b = out.events
    assert (a.trace_id, a.span_id, a.parent_id) == (
        TRACE_HEX,
        "eee19b7ec3c1b174",
        "eee19b7ec3c1b173",
    )
    assert (a.kind, b.kind, b.status) == ("server", "consumer", "ok")
    assert (a.service, a.version, a.attributes["sentra.rollout"]) == ("cart", "2.0.0", "r-17")
    assert a.attributes["tags"] == ["a", 7] and a.attributes["obj"] == {"k": 1.5}
    assert a.duration_ms == pytest.approx(1.0, abs=1e-3)  # float seconds: ~0.1 µs resolution


def test_json_accepts_base64_ids_and_snake_case_keys():
    sid = bytes.fromhex("0102030405060708")
    item = json_span()
    del item["traceId"], item["spanId"]
    item["trace_id"] = "W47/95gDgQPSabYzgT/GDA=="  # base64 of TRACE
    item["span_id"] = "AQIDBAUGBwg="
    (s,) = otlp.decode_traces(json_trace(item), JS, NOW).events
    assert (s.trace_id, s.span_id) == (TRACE_HEX, sid.hex())


def test_a_malformed_json_span_is_rejected_alone():
    body = json_trace(
        json_span(),
        json_span("0102030405060708", startTimeUnixNano="soon"),
        json_span("zz"),
        "not an object",
        json_span("0807060504030201"),
    )
    out = otlp.decode_traces(body, JS, NOW)
    assert [s.span_id for s in out.events] == ["eee19b7ec3c1b174", "0807060504030201"]
    assert [r.where.rsplit(".", 1)[1] for r in out.rejected] == ["spans[1]", "spans[2]", "spans[3]"]
    assert json.loads(out.rejected[0].payload)["startTimeUnixNano"] == "soon"


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"resourceSpans": 5}'])
def test_json_that_is_not_an_export_request_is_an_error(body):
    with pytest.raises(otlp.OtlpDecodeError):
        otlp.decode_traces(body, JS, NOW)


def test_gzip_then_decode_roundtrip_matches_plain():
    # The API gunzips (api/bodies.py); the decoded events must not depend on compression.
    raw = trace_request(span(b"\x01" * 8)).SerializeToString()
    assert otlp.decode_traces(gzip.decompress(gzip.compress(raw)), PB, NOW).events == (
        otlp.decode_traces(raw, PB, NOW).events
    )


# ------------------------------------------------------------------------------ answers


def test_response_carries_partial_success_in_the_request_encoding():
    pb = otlp.export_response("traces", 2, "rejected 2 spans: …", otlp.PROTOBUF)
    msg = ExportTraceServiceResponse.FromString(pb)
    assert msg.partial_success.rejected_spans == 2
    assert msg.partial_success.error_message.startswith("rejected 2")
    js = json.loads(otlp.export_response("logs", 1, "x", otlp.JSON))
    assert js == {"partialSuccess": {"rejectedLogRecords": "1", "errorMessage": "x"}}
    ok = ExportLogsServiceResponse.FromString(otlp.export_response("logs", 0, "", otlp.PROTOBUF))
    assert not ok.HasField("partial_success")
    assert json.loads(otlp.export_response("metrics", 0, "", otlp.JSON)) == {}


@pytest.mark.parametrize(
    "ctype,expected",
    [
        ("application/x-protobuf", "protobuf"),
        ("application/json; charset=utf-8", "json"),
        ("Application/JSON", "json"),
        ("text/plain", None),
        ("", None),
    ],
)
def test_encoding_of_content_type(ctype, expected):
    assert otlp.encoding_of(ctype) == expected


# ------------------------------------------------------------------------------ metrics


def metrics_request(*metrics):
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.extend(RESOURCE)
    rm.scope_metrics.add().metrics.extend(metrics)
    return req


def by_name(samples):
    return {s.name: s for s in samples}


def test_gauge_and_sum_points_become_samples_with_service_and_version_labels():
    ts = int((NOW - 5) * NS)
    gauge = metrics_pb2.Metric(
        name="queue.depth",
        gauge=metrics_pb2.Gauge(
            data_points=[
                metrics_pb2.NumberDataPoint(
                    time_unix_nano=ts, as_int=12, attributes=[kv("queue", "orders")]
                )
            ]
        ),
    )
    counter = metrics_pb2.Metric(
        name="http.server.requests",
        sum=metrics_pb2.Sum(
            is_monotonic=True,
            aggregation_temporality=metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE,
            data_points=[metrics_pb2.NumberDataPoint(time_unix_nano=ts, as_double=41.5)],
        ),
    )
    out = otlp.decode_metrics(metrics_request(gauge, counter).SerializeToString(), PB, NOW)
    assert out.rejected == [] and out.ids == [None, None]
    g, c = out.events
    assert (g.name, g.value, g.ts) == ("queue.depth", 12.0, pytest.approx(NOW - 5))
    assert g.labels == {"queue": "orders", "service": "checkout", "version": "1.4.2"}
    assert (c.name, c.value) == ("http.server.requests", 41.5)


def explicit_histogram(values, bounds, name="latency"):
    counts = [0] * (len(bounds) + 1)
    for v in values:
        i = next((k for k, b in enumerate(bounds) if v <= b), len(bounds))
        counts[i] += 1
    return metrics_pb2.Metric(
        name=name,
        histogram=metrics_pb2.Histogram(
            data_points=[
                metrics_pb2.HistogramDataPoint(
                    time_unix_nano=int(NOW * NS),
                    count=len(values),
                    sum=sum(values),
                    min=min(values),
                    max=max(values),
                    explicit_bounds=bounds,
                    bucket_counts=counts,
                )
            ]
        ),
    )


def test_histogram_quantiles_of_a_uniform_distribution_are_exact():
    values = [float(v) for v in range(1, 1001)]  # 1..1000 ms, uniform
    bounds = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500]
    out = otlp.decode_metrics(
        metrics_request(explicit_histogram(values, bounds)).SerializeToString(), PB, NOW
    )
    got = {n: s.value for n, s in by_name(out.events).items()}
    assert got["latency.count"] == 1000 and got["latency.sum"] == sum(values)
    assert (got["latency.min"], got["latency.max"]) == (1.0, 1000.0)
    # Evenly spread values: linear interpolation inside a bucket is exact.
    for q, name in (
        (0.5, "latency.p50"),
        (0.9, "latency.p90"),
        (0.95, "latency.p95"),
        (0.99, "latency.p99"),
    ):
        assert got[name] == pytest.approx(1000 * q, abs=1.0)


def test_histogram_quantile_estimate_of_a_skewed_distribution_is_within_a_bucket():
    rng = random.Random(7)
    values = [rng.lognormvariate(3.0, 0.6) for _ in range(20_000)]
    bounds = [0, 5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 100, 150, 250]
    out = otlp.decode_metrics(
        metrics_request(explicit_histogram(values, bounds)).SerializeToString(), PB, NOW
    )
    got = by_name(out.events)
    exact = sorted(values)
    for q in (50, 90, 95, 99):
        true = exact[int(q / 100 * len(exact)) - 1]
        # Off by less than ~8% of the true value with buckets 5-50 wide here.
        assert got[f"latency.p{q}"].value == pytest.approx(true, rel=0.08), q


def test_quantile_without_min_max_uses_prometheus_conventions():
    buckets = otlp.explicit_buckets([10, 20], [0, 4, 4])
    assert buckets == [(0.0, 10, 0), (10, 20, 4), (20, 20, 4)]
    assert otlp.quantile(buckets, 0.25) == pytest.approx(15.0)
    assert otlp.quantile(buckets, 0.99) == 20  # the open top bucket ends at its lower bound
    assert otlp.quantile([(0, 1, 0)], 0.5) is None


def test_exponential_histogram_quantiles_fall_in_the_right_bucket():
    # scale 0: base 2, positive bucket index i covers (2^i, 2^(i+1)].
    point = metrics_pb2.ExponentialHistogramDataPoint(
        time_unix_nano=int(NOW * NS),
        count=110,
        sum=3000.0,
        scale=0,
        zero_count=10,
        positive=metrics_pb2.ExponentialHistogramDataPoint.Buckets(
            offset=3, bucket_counts=[50, 50]
        ),
    )
    metric = metrics_pb2.Metric(
        name="rpc.duration",
        exponential_histogram=metrics_pb2.ExponentialHistogram(data_points=[point]),
    )
    got = by_name(otlp.decode_metrics(metrics_request(metric).SerializeToString(), PB, NOW).events)
    assert got["rpc.duration.count"].value == 110
    # rank 55 of 110: 10 zeros, then 45 of the 50 in (8, 16] → 8 + 8 * 45/50 = 15.2
    assert got["rpc.duration.p50"].value == pytest.approx(15.2)
    assert 16 < got["rpc.duration.p95"].value <= 32


def test_summary_quantiles_are_named_by_percent():
    point = metrics_pb2.SummaryDataPoint(
        time_unix_nano=int(NOW * NS),
        count=10,
        sum=55.0,
        quantile_values=[
            metrics_pb2.SummaryDataPoint.ValueAtQuantile(quantile=0.5, value=5.0),
            metrics_pb2.SummaryDataPoint.ValueAtQuantile(quantile=0.999, value=9.9),
        ],
    )
    metric = metrics_pb2.Metric(name="gc.pause", summary=metrics_pb2.Summary(data_points=[point]))
    got = by_name(otlp.decode_metrics(metrics_request(metric).SerializeToString(), PB, NOW).events)
    assert {n: s.value for n, s in got.items()} == {
        "gc.pause.count": 10.0,
        "gc.pause.sum": 55.0,
        "gc.pause.p50": 5.0,
        "gc.pause.p99.9": 9.9,
    }


def test_bad_points_and_metrics_are_rejected_one_by_one():
    ts = int(NOW * NS)
    ok = metrics_pb2.NumberDataPoint(time_unix_nano=ts, as_double=1.0)
    nan = metrics_pb2.NumberDataPoint(time_unix_nano=ts, as_double=float("nan"))
    empty = metrics_pb2.NumberDataPoint(time_unix_nano=ts)
    bad_hist = metrics_pb2.HistogramDataPoint(
        time_unix_nano=ts, count=3, explicit_bounds=[1, 2], bucket_counts=[3]
    )
    metrics = [
        metrics_pb2.Metric(name="a", gauge=metrics_pb2.Gauge(data_points=[ok, nan, empty])),
        metrics_pb2.Metric(name="h", histogram=metrics_pb2.Histogram(data_points=[bad_hist])),
        metrics_pb2.Metric(name="", gauge=metrics_pb2.Gauge(data_points=[ok, ok])),
        metrics_pb2.Metric(name="x" * 300, gauge=metrics_pb2.Gauge(data_points=[ok])),
        metrics_pb2.Metric(name="no.data"),
    ]
    out = otlp.decode_metrics(metrics_request(*metrics).SerializeToString(), PB, NOW)
    assert [s.name for s in out.events] == ["a"]
    assert out.rejected_items == 2 + 1 + 2 + 1 + 0
    reasons = [r.reason for r in out.rejected]
    assert "not a finite number" in reasons[0] and "no value" in reasons[1]
    assert "one more count than bounds" in reasons[2]
    assert reasons[3] == "the metric has no name" and "too long" in reasons[4]
    assert "no gauge" in reasons[5]


def test_metric_and_label_names_are_sanitised_to_the_native_rules():
    point = metrics_pb2.NumberDataPoint(
        time_unix_nano=int(NOW * NS),
        as_int=1,
        attributes=[kv("http route", "/a"), kv("9lives", "cat")],
    )
    metric = metrics_pb2.Metric(
        name="9 requests (total)", gauge=metrics_pb2.Gauge(data_points=[point])
    )
    (s,) = otlp.decode_metrics(metrics_request(metric).SerializeToString(), PB, NOW).events
    assert s.name == "_9_requests__total_"
    assert s.labels["http_route"] == "/a" and s.labels["_9lives"] == "cat"


def test_json_metrics_reject_a_bad_point_without_losing_the_metric():
    body = json.dumps(
        {
            "resourceMetrics": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]
                    },
                    "scopeMetrics": [
                        {
                            "metrics": [
                                {
                                    "name": "jobs",
                                    "sum": {
                                        "aggregationTemporality": "AGGREGATION_TEMPORALITY_DELTA",
                                        "isMonotonic": True,
                                        "dataPoints": [
                                            {"asInt": "3", "timeUnixNano": str(int(NOW * NS))},
                                            {"asInt": "three"},
                                            {"asDouble": 4.5, "timeUnixNano": str(int(NOW * NS))},
                                        ],
                                    },
                                },
                                {
                                    "name": "wait",
                                    "histogram": {
                                        "dataPoints": [
                                            {
                                                "count": "4",
                                                "sum": 10,
                                                "explicitBounds": [1, 5],
                                                "bucketCounts": ["0", "4", "0"],
                                                "timeUnixNano": str(int(NOW * NS)),
                                            }
                                        ]
                                    },
                                },
                            ]
                        }
                    ],
                }
            ]
        }
    ).encode()
    out = otlp.decode_metrics(body, JS, NOW)
    assert [(s.name, s.value) for s in out.events if s.name == "jobs"] == [
        ("jobs", 3.0),
        ("jobs", 4.5),
    ]
    assert out.events[0].labels == {"service": "api"}
    got = by_name(out.events)
    assert got["wait.p50"].value == pytest.approx(3.0)  # 2 of 4 in (1, 5]
    assert [r.where for r in out.rejected] == [
        "resourceMetrics[0].scopeMetrics[0].metrics[0].dataPoints[1]"
    ]


# ------------------------------------------------------------------------------ logs


def logs_request(*records):
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.extend(RESOURCE)
    rl.scope_logs.add().log_records.extend(records)
    return req


def test_log_records_keep_body_severity_ids_and_time():
    ts = int((NOW - 3) * NS)
    text = logs_pb2.LogRecord(
        time_unix_nano=ts,
        severity_number=logs_pb2.SEVERITY_NUMBER_WARN2,
        severity_text="warning",
        body=AnyValue(string_value="payment failed"),
        attributes=[kv("order", 42)],
        trace_id=TRACE,
        span_id=b"\x02" * 8,
    )
    structured = logs_pb2.LogRecord(
        observed_time_unix_nano=ts,
        severity_text="Error",
        body=AnyValue(kvlist_value={"values": [kv("event", "retry"), kv("n", 3)]}),
    )
    no_time = logs_pb2.LogRecord(body=AnyValue(string_value="hello"))
    out = otlp.decode_logs(logs_request(text, structured, no_time).SerializeToString(), PB, NOW)
    assert out.rejected == [] and out.ids == [None, None, None]
    a, b, c = out.events
    assert (a.body, a.severity, a.severity_number, a.ts) == (
        "payment failed",
        "WARN",
        14,
        pytest.approx(NOW - 3),
    )
    assert (a.trace_id, a.span_id, a.service, a.version) == (
        TRACE_HEX,
        "02" * 8,
        "checkout",
        "1.4.2",
    )
    assert a.attributes["order"] == 42 and a.attributes["deployment.environment"] == "prod"
    assert json.loads(b.body) == {"event": "retry", "n": 3}
    assert (b.severity, b.severity_number, b.ts) == ("ERROR", 17, pytest.approx(NOW - 3))
    assert (c.ts, c.severity, c.severity_number, c.trace_id) == (NOW, "UNSPECIFIED", 0, "")


def test_bad_log_records_are_rejected_alone():
    ok = logs_pb2.LogRecord(body=AnyValue(string_value="ok"))
    bad_trace = logs_pb2.LogRecord(body=AnyValue(string_value="x"), trace_id=b"\x01" * 3)
    huge = logs_pb2.LogRecord(body=AnyValue(string_value="x" * 70_000))
    out = otlp.decode_logs(logs_request(ok, bad_trace, huge, ok).SerializeToString(), PB, NOW)
    assert [r.body for r in out.events] == ["ok", "ok"]
    assert out.rejected_items == 2
    assert "16 bytes" in out.rejected[0].reason and "longer" in out.rejected[1].reason


def test_json_logs_with_hex_ids_and_severity_names():
    body = json.dumps(
        {
            "resourceLogs": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": "worker"}}]
                    },
                    "scopeLogs": [
                        {
                            "logRecords": [
                                {
                                    "timeUnixNano": str(int(NOW * NS)),
                                    "severityNumber": "SEVERITY_NUMBER_ERROR",
                                    "body": {"stringValue": "boom"},
                                    "traceId": TRACE_HEX,
                                    "spanId": "eee19b7ec3c1b174",
                                }
                            ]
                        }
                    ],
                }
            ]
        }
    ).encode()
    (r,) = otlp.decode_logs(body, JS, NOW).events
    assert (r.body, r.severity, r.severity_number, r.service) == ("boom", "ERROR", 17, "worker")
    assert (r.trace_id, r.span_id) == (TRACE_HEX, "eee19b7ec3c1b174")
