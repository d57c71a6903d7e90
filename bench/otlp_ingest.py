"""OTLP/HTTP span ingest: spans/s a real node accepts (protobuf), its CPU, export latency.

Usage: .venv/bin/python bench/otlp_ingest.py [--quick] [--seconds S] [--clients N]
                                             [--batch B]

Starts ``sentra up`` (fresh temp data dir, free port, collectors sampling at 1 s as in
production) and N client processes. Each client is the OpenTelemetry Python SDK's own
``OTLPSpanExporter`` (protobuf over HTTP, keep-alive) calling ``export()`` back to back
(closed loop) with batches of B spans (default 512, the BatchSpanProcessor's default batch):
64 traces of 8 spans (a server root and 7 client children, 6 attributes each, built once by
a real TracerProvider), re-sent with fresh trace ids so that the node's dedupe never drops
them. Every export is answered only after its spans are committed (accepted means durable).

Reported: spans/s accepted (spans in exports answered 2xx, and the node's own
``sentra_spans_written_total`` delta as a cross-check), the node's CPU % (utime+stime from
/proc/<pid>/stat; 100 % = one core), the clients' CPU, and p50/p95/p99 of export() latency.
No target is set by the issue; the figures are for the docs (docs/otlp.md).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import re
import resource
import subprocess
import time
from typing import Any

import httpx

from _common import VENV_BIN, cpu_seconds, emit, log, machine, median, percentile, sentra_node


def build_template(batch: int) -> list[Any]:
    """``batch`` finished spans from a real TracerProvider (traces of 8 spans)."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    spans: list[Any] = []

    class Keep(SpanExporter):
        def export(self, items: Any) -> SpanExportResult:
            spans.extend(items)
            return SpanExportResult.SUCCESS

    provider = TracerProvider(
        resource=Resource.create(
            {
                "service.name": "bench-shop",
                "service.version": "1.0.0",
                "deployment.environment": "bench",
                "k8s.pod.name": "bench-shop-0",
            }
        )
    )
    provider.add_span_processor(SimpleSpanProcessor(Keep()))
    tracer = provider.get_tracer("bench")
    while len(spans) < batch:
        with tracer.start_as_current_span("GET /checkout", kind=trace.SpanKind.SERVER) as root:
            root.set_attributes({"http.method": "GET", "http.route": "/checkout"})
            for i in range(7):
                with tracer.start_as_current_span(f"db query {i}", kind=trace.SpanKind.CLIENT) as s:
                    s.set_attributes(
                        {
                            "db.system": "postgresql",
                            "db.operation": "SELECT",
                            "db.rows": i,
                            "net.peer.name": "db",
                            "retry": False,
                            "shard": 3,
                        }
                    )
    provider.shutdown()
    return spans[:batch]


def fresh_copy(template: list[Any], rng: random.Random) -> list[Any]:
    """The same spans under new trace ids (span ids stay; trace + span id is unique)."""
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import SpanContext

    ids: dict[int, int] = {}
    out = []
    for s in template:
        ctx = s.context
        tid = ids.setdefault(ctx.trace_id, rng.getrandbits(128) or 1)
        parent = s.parent
        out.append(
            ReadableSpan(
                name=s.name,
                context=SpanContext(tid, ctx.span_id, False, ctx.trace_flags),
                parent=SpanContext(tid, parent.span_id, False, parent.trace_flags)
                if parent
                else None,
                resource=s.resource,
                attributes=s.attributes,
                events=s.events,
                links=s.links,
                kind=s.kind,
                status=s.status,
                start_time=s.start_time,
                end_time=s.end_time,
                instrumentation_scope=s.instrumentation_scope,
            )
        )
    return out


def client(url: str, token: str, batch: int, seconds: float, seed: int) -> dict[str, Any]:
    """Runs in its own process: export() batches back to back for ``seconds``."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    rng = random.Random(seed)
    template = build_template(batch)
    exporter = OTLPSpanExporter(
        endpoint=f"{url}/v1/traces", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    ready = [fresh_copy(template, rng) for _ in range(2)]
    latencies: list[float] = []
    accepted = failed = 0
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    deadline = t0 + seconds
    try:
        while time.perf_counter() < deadline:
            spans = ready.pop()
            sent = time.perf_counter()
            result = exporter.export(spans)
            latencies.append((time.perf_counter() - sent) * 1000)
            if result is SpanExportResult.SUCCESS:
                accepted += len(spans)
            else:
                failed += len(spans)
            ready.append(fresh_copy(template, rng))
        elapsed = time.perf_counter() - t0
    finally:
        exporter.shutdown()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {
        "accepted": accepted,
        "failed": failed,
        "latencies": latencies,
        "elapsed": elapsed,
        "cpu_s": cpu,
    }


def operator_token(data_dir: str) -> str:
    out = subprocess.run(
        [
            str(VENV_BIN / "sentra"),
            "token",
            "create",
            "--name",
            "bench-otlp",
            "--role",
            "operator",
            "--data-dir",
            data_dir,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def spans_written(url: str, headers: dict[str, str]) -> float:
    text = httpx.get(f"{url}/metrics", headers=headers, trust_env=False, timeout=10).text
    m = re.search(r"^sentra_spans_written_total\s+([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10 s instead of 30 s")
    ap.add_argument("--seconds", type=float, default=None, help="run length (default 30)")
    ap.add_argument("--clients", type=int, default=2, help="client processes (2)")
    ap.add_argument("--batch", type=int, default=512, help="spans per export (512)")
    args = ap.parse_args()
    seconds = args.seconds or (10.0 if args.quick else 30.0)
    started = time.perf_counter()
    with sentra_node(sample_interval=1.0) as node:
        token = operator_token(str(node.data_dir))
        ctx = mp.get_context("spawn")
        with ctx.Pool(args.clients) as pool:
            # Warm-up: one short round so imports, connections and SQLite pages are hot.
            warm = [
                pool.apply_async(client, (node.url, token, args.batch, 2.0, 1000 + i))
                for i in range(args.clients)
            ]
            for w in warm:
                w.get(120)
            log(f"warm-up done; measuring {seconds:g} s with {args.clients} client(s)")
            written0 = spans_written(node.url, node.headers)
            cpu0 = cpu_seconds(node.proc.pid)
            t0 = time.perf_counter()
            runs = [
                pool.apply_async(client, (node.url, token, args.batch, seconds, i))
                for i in range(args.clients)
            ]
            results = [r.get(seconds + 120) for r in runs]
            wall = time.perf_counter() - t0
            node_cpu = (cpu_seconds(node.proc.pid) - cpu0) / wall * 100
            written = spans_written(node.url, node.headers) - written0
        if node.proc.poll() is not None:
            raise RuntimeError("sentra exited during the benchmark")

    latencies = [x for r in results for x in r["latencies"]]
    accepted = sum(r["accepted"] for r in results)
    failed = sum(r["failed"] for r in results)
    elapsed = median([r["elapsed"] for r in results])
    rate = accepted / elapsed
    lat = {
        "p50": round(percentile(latencies, 50), 2),
        "p95": round(percentile(latencies, 95), 2),
        "p99": round(percentile(latencies, 99), 2),
        "max": round(max(latencies), 2),
    }
    client_cpu = sum(r["cpu_s"] for r in results) / elapsed * 100
    result = {
        "benchmark": "otlp_ingest",
        "mode": "quick" if args.quick else "default",
        "machine": machine(),
        "load": {
            "client": "opentelemetry-exporter-otlp-proto-http OTLPSpanExporter.export(), "
            "protobuf, closed loop, separate processes",
            "clients": args.clients,
            "spans_per_export": args.batch,
            "seconds": seconds,
            "exports": len(latencies),
        },
        "spans_per_s_accepted": round(rate, 1),
        "spans_per_s_written_by_node": round(written / wall, 1),
        "spans_failed": failed,
        "node_cpu_percent": round(node_cpu, 1),
        "clients_cpu_percent": round(client_cpu, 1),
        "export_latency_ms": lat,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    emit(
        result,
        f"otlp_ingest: {rate:,.0f} spans/s accepted ({args.clients} SDK client(s), "
        f"{args.batch}-span exports); node CPU {node_cpu:.0f} %, clients {client_cpu:.0f} %; "
        f"export p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms; {failed} spans failed",
    )


if __name__ == "__main__":
    main()
