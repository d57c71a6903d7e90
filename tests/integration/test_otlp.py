"""OTLP/HTTP into a real `sentra up`: an app instrumented with the OpenTelemetry SDK sends
spans, metrics and logs with the OTLP/HTTP exporters; the test reads them back through the
API. Also: gzip, OTLP/JSON, partial success with dead letters, and the error answers."""

from __future__ import annotations

import gzip
import json
import time

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.metrics import Observation
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExportResult,
)

from tests.nodeproc import NodeProcess, create_token, wait_for

PB = {"Content-Type": "application/x-protobuf"}


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    data = tmp_path_factory.mktemp("otlp")
    proc = NodeProcess(data).start()
    token = create_token(data, role="operator")
    client = httpx.Client(
        base_url=proc.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    yield proc, client, token
    client.close()
    assert proc.stop() == 0


def _resource(service: str, version: str = "1.0.0") -> Resource:
    return Resource.create(
        {
            "service.name": service,
            "service.version": version,
            "deployment.environment": "test",
        }
    )


def run_instrumented_app(url: str, token: str, service: str, *, gzip_: bool = False) -> str:
    """A small app: one request with a failing child span, a counter, a histogram, a gauge
    and a warning log, exported over OTLP/HTTP protobuf. Returns the trace id (hex)."""
    headers = {"Authorization": f"Bearer {token}"}
    compression = Compression.Gzip if gzip_ else Compression.NoCompression
    resource = _resource(service, "2.1.0")

    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=f"{url}/v1/traces", headers=headers, compression=compression)
        )
    )
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{url}/v1/metrics", headers=headers, compression=compression),
        export_interval_millis=3_600_000,  # exported by force_flush/shutdown below
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(
            OTLPLogExporter(endpoint=f"{url}/v1/logs", headers=headers, compression=compression)
        )
    )
    try:
        tracer = tracer_provider.get_tracer("shop.app")
        meter = meter_provider.get_meter("shop.app")
        logger = logger_provider.get_logger("shop.app")
        requests = meter.create_counter("shop.requests", unit="1")
        latency = meter.create_histogram("shop.latency", unit="ms")
        meter.create_observable_gauge(
            "shop.pool.in_use", callbacks=[lambda _opts: [Observation(0.75, {"pool": "db"})]]
        )
        with tracer.start_as_current_span("GET /checkout", kind=trace.SpanKind.SERVER) as root:
            trace_id = format(root.get_span_context().trace_id, "032x")
            try:
                with tracer.start_as_current_span("charge card", kind=trace.SpanKind.CLIENT):
                    logger.emit(
                        severity_text="WARN",
                        severity_number=13,
                        body="card declined for order 42",
                        attributes={"order": 42},
                    )
                    raise RuntimeError("card declined")
            except RuntimeError:
                pass
            for ms in range(1, 101):  # 1..100 ms, evenly spread: p95 ≈ 95
                latency.record(float(ms), {"route": "/checkout"})
            requests.add(5, {"route": "/checkout"})
        assert tracer_provider.force_flush(10_000)
        assert meter_provider.force_flush(10_000)
        assert logger_provider.force_flush(10_000)
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()
        logger_provider.shutdown()
    return trace_id


def _latest(client: httpx.Client, name: str, labels: str) -> list[dict]:
    r = client.get("/api/v1/history", params={"name": name, "labels": labels})
    return r.json()["series"] if r.status_code == 200 else []


def test_sdk_app_spans_metrics_and_logs_are_readable_through_the_api(node):
    proc, client, token = node
    trace_id = run_instrumented_app(proc.url, token, "shop")

    found = wait_for(
        lambda: client.get("/api/v1/traces", params={"service": "shop"}).json()["traces"]
    )
    assert [t["trace_id"] for t in found] == [trace_id]
    assert found[0]["name"] == "GET /checkout" and found[0]["errors"] == 1
    spans = client.get(f"/api/v1/traces/{trace_id}").json()["spans"]
    by_name = {s["name"]: s for s in spans}
    root, child = by_name["GET /checkout"], by_name["charge card"]
    assert root["parent_id"] == "" and child["parent_id"] == root["span_id"]
    assert (root["kind"], child["kind"]) == ("server", "client")
    assert child["status"] == "error" and "card declined" in child["status_message"]
    assert root["status"] == "unset"
    assert (root["service"], root["version"]) == ("shop", "2.1.0")
    assert root["attributes"]["deployment.environment"] == "test"
    assert 0 < child["duration_ms"] <= root["duration_ms"] < 10_000
    assert any(e["name"] == "exception" for e in child["attributes"]["otel.events"])

    logs = wait_for(lambda: client.get("/api/v1/logs", params={"service": "shop"}).json()["logs"])
    (log,) = logs
    assert (log["body"], log["severity"], log["version"]) == (
        "card declined for order 42",
        "WARN",
        "2.1.0",
    )
    assert log["trace_id"] == trace_id and log["span_id"] == child["span_id"]
    assert log["attributes"]["order"] == 42

    labels = "service=shop,route=/checkout"
    (count,) = wait_for(lambda: _latest(client, "shop.requests", labels))
    assert count["points"][-1][1] == 5 and count["labels"]["version"] == "2.1.0"
    (p95,) = _latest(client, "shop.latency.p95", labels)
    assert p95["points"][-1][1] == pytest.approx(95, abs=1)  # 1..100 evenly: p95 = 95
    (n,) = _latest(client, "shop.latency.count", labels)
    assert n["points"][-1][1] == 100
    (gauge,) = _latest(client, "shop.pool.in_use", "service=shop,pool=db")
    assert gauge["points"][-1][1] == 0.75


def test_gzip_exporter_is_accepted(node):
    proc, client, token = node
    trace_id = run_instrumented_app(proc.url, token, "shop-gz", gzip_=True)
    spans = wait_for(lambda: client.get(f"/api/v1/traces/{trace_id}").json().get("spans"))
    assert {s["service"] for s in spans} == {"shop-gz"}
    assert wait_for(lambda: _latest(client, "shop.latency.p50", "service=shop-gz"))


def test_exporter_retry_is_not_stored_twice(node):
    proc, client, token = node
    tracer_provider = TracerProvider(resource=_resource("retry"))
    captured = []

    class Capture:  # the SDK's own spans, exported twice by the same exporter
        def export(self, spans):
            captured.extend(spans)
            return SpanExportResult.SUCCESS

        def shutdown(self):
            pass

        def force_flush(self, timeout_millis=None):
            return True

    tracer_provider.add_span_processor(SimpleSpanProcessor(Capture()))
    with tracer_provider.get_tracer("t").start_as_current_span("once"):
        pass
    tracer_provider.shutdown()
    exporter = OTLPSpanExporter(
        endpoint=f"{proc.url}/v1/traces", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        assert exporter.export(captured) is SpanExportResult.SUCCESS
        assert exporter.export(captured) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    trace_id = format(captured[0].context.trace_id, "032x")
    assert len(client.get(f"/api/v1/traces/{trace_id}").json()["spans"]) == 1


def _json_spans(*spans):
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": "json-app"}},
                        {"key": "service.version", "value": {"stringValue": "3.0.0"}},
                    ]
                },
                "scopeSpans": [{"scope": {"name": "manual"}, "spans": list(spans)}],
            }
        ]
    }


def _json_span(trace_id: str, span_id: str, **extra):
    now = time.time_ns()
    out = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "json span",
        "kind": "SPAN_KIND_SERVER",
        "startTimeUnixNano": str(now - 5_000_000),
        "endTimeUnixNano": str(now),
        "status": {"code": 2, "message": "boom"},
    }
    out.update(extra)
    return out


def test_json_request_gets_a_json_answer_and_hex_ids_are_kept(node):
    _, client, _ = node
    tid = "4bf92f3577b34da6a3ce929d0e0e4736"
    body = _json_spans(_json_span(tid, "00f067aa0ba902b7"))
    r = client.post(
        "/v1/traces", content=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json") and r.json() == {}
    (s,) = client.get(f"/api/v1/traces/{tid}").json()["spans"]
    assert (s["span_id"], s["service"], s["version"], s["status"]) == (
        "00f067aa0ba902b7",
        "json-app",
        "3.0.0",
        "error",
    )
    assert s["duration_ms"] == pytest.approx(5.0, abs=0.01)


def test_partial_success_counts_rejects_and_keeps_them_as_dead_letters(node):
    _, client, _ = node
    tid = "0af7651916cd43dd8448eb211c80319c"
    body = _json_spans(
        _json_span(tid, "b7ad6b7169203331"),
        _json_span("00000000000000000000000000000000", "b7ad6b7169203332"),
        _json_span(tid, "b7ad6b7169203333"),
    )
    raw = gzip.compress(json.dumps(body).encode())
    r = client.post(
        "/v1/traces",
        content=raw,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert r.status_code == 200, r.text
    partial = r.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"
    assert "spans[1]: trace_id is missing or all zero" in partial["errorMessage"]
    stored = client.get(f"/api/v1/traces/{tid}").json()["spans"]
    assert sorted(s["span_id"] for s in stored) == ["b7ad6b7169203331", "b7ad6b7169203333"]
    (dead,) = client.get("/api/v1/deadletters", params={"source": "otlp.traces"}).json()[
        "deadletters"
    ]
    assert "trace_id is missing or all zero" in dead["reason"]
    assert json.loads(dead["payload"])["spanId"] == "b7ad6b7169203332"


def test_protobuf_partial_success_answer_is_protobuf(node):
    _, client, _ = node
    req = ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add().spans
    now = time.time_ns()
    spans.add(
        trace_id=b"\x11" * 16,
        span_id=b"\x22" * 8,
        name="ok",
        start_time_unix_nano=now,
        end_time_unix_nano=now,
    )
    spans.add(
        trace_id=b"\x11" * 16,
        span_id=b"\x33" * 3,
        name="bad",
        start_time_unix_nano=now,
        end_time_unix_nano=now,
    )
    r = client.post("/v1/traces", content=req.SerializeToString(), headers=PB)
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-protobuf"
    answer = ExportTraceServiceResponse.FromString(r.content)
    assert answer.partial_success.rejected_spans == 1
    assert "span_id must be 8 bytes" in answer.partial_success.error_message
    (s,) = client.get(f"/api/v1/traces/{'11' * 16}").json()["spans"]
    assert (s["name"], s["service"], s["kind"]) == ("ok", "unknown_service", "internal")


def _problem(resp, status):
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["status"] == status and resp.json()["detail"]
    return resp.json()


@pytest.mark.parametrize("path", ["/v1/traces", "/v1/metrics", "/v1/logs"])
def test_undecodable_bodies_wrong_types_and_missing_tokens_are_problems(node, path):
    proc, client, _ = node
    assert (
        "protobuf"
        in _problem(client.post(path, content=b"\xff\x01garbage", headers=PB), 400)["detail"]
    )
    json_ct = {"Content-Type": "application/json"}
    assert "JSON" in _problem(client.post(path, content=b"{nope", headers=json_ct), 400)["detail"]
    _problem(client.post(path, content=b"x", headers={"Content-Type": "text/plain"}), 415)
    _problem(httpx.post(proc.url + path, content=b"", headers=PB), 401)
    viewer = create_token(proc.data_dir, role="viewer", name=f"viewer{path.replace('/', '-')}")
    _problem(
        httpx.post(
            proc.url + path, content=b"", headers={**PB, "Authorization": f"Bearer {viewer}"}
        ),
        403,
    )


def test_an_empty_request_is_a_plain_success(node):
    _, client, _ = node
    r = client.post("/v1/logs", content=b"", headers=PB)
    assert r.status_code == 200 and r.content == b""
