"""OTLP/HTTP receiver: POST /v1/traces, /v1/metrics, /v1/logs (protobuf or JSON, gzip).

The answer is the Export*ServiceResponse in the request's encoding, sent once the batch is
committed (accepted means durable). Items that cannot be converted are counted in
``partial_success`` and kept in the dead-letter record (source ``otlp.traces``, …) in the
same transaction. Errors are application/problem+json; OTLP exporters read only the status:
400/401/403/413/415 are final for them, 429 and 503 (with Retry-After) are retried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from sentra.api.auth import require
from sentra.api.bodies import read_body
from sentra.api.context import ApiContext
from sentra.api.ingest import commit
from sentra.api.problems import Problem
from sentra.ingest import otlp
from sentra.ingest.pipeline import Job
from sentra.store.records import DeadLetter

router = APIRouter(dependencies=[Depends(require("operator"))], tags=["otlp"])

_MEDIA = {otlp.PROTOBUF: "application/x-protobuf", otlp.JSON: "application/json"}
_DAY = 86400.0


@dataclass(frozen=True)
class _Signal:
    name: str  # traces | metrics | logs
    what: str  # for messages: spans, data points, log records
    decode: Callable[..., otlp.Decoded[Any]]


_TRACES = _Signal("traces", "spans", otlp.decode_traces)
_METRICS = _Signal("metrics", "data points", otlp.decode_metrics)
_LOGS = _Signal("logs", "log records", otlp.decode_logs)


def _oldest(ctx: ApiContext, signal: _Signal, now: float) -> float:
    if signal is _METRICS:
        return now - ctx.settings.history.retention_days * _DAY
    return now - ctx.settings.ingest.records_retention_days * _DAY


async def _export(request: Request, signal: _Signal) -> Response:
    ctx: ApiContext = request.app.state.ctx
    ctype = request.headers.get("content-type", "")
    encoding = otlp.encoding_of(ctype)
    if encoding is None:
        raise Problem(
            415,
            f"Content-Type {ctype!r} is not supported; OTLP/HTTP sends "
            "application/x-protobuf or application/json",
        )
    body = await read_body(request, ctx.settings.ingest.max_body_bytes)
    now = ctx.clock()
    try:
        decoded = signal.decode(body, ctype, now, oldest=_oldest(ctx, signal, now))
    except otlp.OtlpDecodeError as exc:
        raise Problem(400, str(exc)) from None
    source = f"otlp.{signal.name}"
    dead = [DeadLetter(source, f"{r.where}: {r.reason}", r.payload) for r in decoded.rejected]
    job = Job(source=source, deadletters=dead)
    if signal is _TRACES:
        job.spans, job.span_ids = decoded.events, decoded.ids
    elif signal is _METRICS:
        job.samples, job.sample_ids = decoded.events, decoded.ids
    else:
        job.logs, job.log_ids = decoded.events, decoded.ids
    if job.size:
        await commit(ctx, job)
    answer = otlp.export_response(
        signal.name, decoded.rejected_items, decoded.summary(signal.what), encoding
    )
    return Response(answer, media_type=_MEDIA[encoding])


@router.post("/v1/traces", response_class=Response)
async def traces(request: Request) -> Response:
    """OTLP/HTTP spans: an ExportTraceServiceRequest in protobuf or JSON (Content-Type
    application/x-protobuf or application/json), optionally gzip. Answers the
    ExportTraceServiceResponse in the same encoding once the batch is committed; rejected
    spans are counted in partial_success and kept in /api/v1/deadletters."""
    return await _export(request, _TRACES)


@router.post("/v1/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """OTLP/HTTP metrics (gauges, sums, histograms, exponential histograms, summaries), as
    for /v1/traces; histograms are stored as <name>.count, .sum, .p50, .p90, .p95, .p99."""
    return await _export(request, _METRICS)


@router.post("/v1/logs", response_class=Response)
async def logs(request: Request) -> Response:
    """OTLP/HTTP log records, as for /v1/traces."""
    return await _export(request, _LOGS)
