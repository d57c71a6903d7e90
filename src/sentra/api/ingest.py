"""POST /api/v1/ingest (native batches) and GET /api/v1/deadletters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from sentra.api.auth import require
from sentra.api.bodies import read_body
from sentra.api.context import ApiContext
from sentra.api.problems import Problem, problem_response
from sentra.ingest.model import BatchError, parse_batch
from sentra.ingest.pipeline import CommitResult, Job, Overloaded
from sentra.store.records import DeadLetter
from sentra.store.sql import DatabaseUnavailable

router = APIRouter()


async def commit(ctx: ApiContext, job: Job) -> CommitResult:
    """Hand a job to the writer and wait for its commit; 429/503 problems when it cannot."""
    try:
        future = ctx.ingestor.submit(job)
    except Overloaded as exc:
        retry = f"{exc.retry_after:.0f}"
        raise Problem(
            429,
            f"the node is busy writing {exc.pending} events; retry in {retry} s",
            headers={"Retry-After": retry},
        ) from None
    try:
        return await future
    except DatabaseUnavailable:
        raise  # a 503 that says what became of the batch (api/problems.py)
    except Exception:
        raise Problem(
            503,
            "the batch could not be stored (nothing of it was accepted); retry",
            headers={"Retry-After": "5"},
        ) from None


@router.post("/api/v1/ingest", dependencies=[Depends(require("operator"))], tags=["ingest"])
async def ingest(request: Request) -> JSONResponse:
    """Store a batch of metric samples and log records (JSON or MessagePack, optionally
    gzip). Answers after the batch is committed: accepted means durable. Bad items are
    rejected one by one (index and reason) and kept as dead letters; duplicates (an ``id``
    seen within the dedupe window) are counted, not stored twice."""
    ctx: ApiContext = request.app.state.ctx
    body = await read_body(request, ctx.settings.ingest.max_body_bytes)
    ctype = request.headers.get("content-type", "application/json")
    if "json" not in ctype and "msgpack" not in ctype:
        raise Problem(
            415,
            f"Content-Type {ctype!r} is not supported; send application/json "
            "or application/msgpack",
        )
    now = ctx.clock()
    oldest = now - ctx.settings.history.retention_days * 86400
    try:
        batch = parse_batch(body, ctype, now=now, oldest=oldest)
    except BatchError as exc:
        raise Problem(400, str(exc)) from None
    dead = [
        DeadLetter("ingest", f"{r.kind}[{r.index}]: {r.reason}", r.payload) for r in batch.rejected
    ]
    job = Job(
        source="ingest",
        samples=batch.samples,
        sample_ids=batch.sample_ids,
        logs=batch.logs,
        log_ids=batch.log_ids,
        deadletters=dead,
    )
    result = await commit(ctx, job)
    rejected = [{"kind": r.kind, "index": r.index, "reason": r.reason} for r in batch.rejected]
    answer: dict[str, Any] = {
        "accepted": {"metrics": result.samples, "logs": result.logs},
        "duplicates": result.duplicates,
        "rejected": rejected,
    }
    if rejected and not (batch.samples or batch.logs):
        return problem_response(
            400,
            f"all {len(rejected)} items were rejected; see 'rejected' "
            "(they are kept in /api/v1/deadletters)",
            instance=request.url.path,
            **answer,
        )
    return JSONResponse(answer)


@router.get("/api/v1/deadletters", dependencies=[Depends(require("viewer"))], tags=["ingest"])
def deadletters(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    source: Annotated[str, Query(max_length=64, description="ingest, otlp.traces, …")] = "",
) -> dict[str, Any]:
    """Rejected items, newest first: payload, reason, time and source."""
    ctx: ApiContext = request.app.state.ctx
    items = ctx.store.deadletters(limit, source)
    return {
        "deadletters": [
            {"id": d.id, "ts": d.ts, "source": d.source, "reason": d.reason, "payload": d.payload}
            for d in items
        ]
    }
