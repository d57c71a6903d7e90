"""Reading application telemetry back: /api/v1/logs, /api/v1/traces, /api/v1/traces/{id}."""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Path, Query, Request

from sentra.api.auth import require
from sentra.api.context import ApiContext
from sentra.api.problems import Problem
from sentra.events import Span, severity_number

router = APIRouter(dependencies=[Depends(require("viewer"))])
_HEX = re.compile(r"^[0-9a-f]{32}$")

Service = Annotated[str, Query(max_length=256, description="service.name")]
Version = Annotated[str, Query(max_length=256, description="service.version")]
From = Annotated[float | None, Query(alias="from", description="Start, unix seconds.")]
To = Annotated[float | None, Query(alias="to", description="End, unix seconds (default now).")]
Limit = Annotated[int, Query(ge=1, le=10_000)]
MAX_TS = 1e11  # unix seconds (the year 5138): beyond it a time is a typo, not a query


def _window(ctx: ApiContext, start: float | None, end: float | None) -> tuple[float, float]:
    end = ctx.clock() if end is None else end
    start = end - 3600 if start is None else start
    if start != start or end != end or start > end:
        raise Problem(400, "'from' must be a number not after 'to'")
    if not (start >= -MAX_TS and end <= MAX_TS):  # the store keeps milliseconds in int64
        raise Problem(400, f"'from' and 'to' are unix seconds, within ±{MAX_TS:.0e}")
    return start, end


def span_json(s: Span) -> dict[str, Any]:
    out = msgspec.structs.asdict(s)
    out["duration_ms"] = round(s.duration_ms, 3)
    return out


@router.get("/api/v1/traces", tags=["telemetry"])
def traces(
    request: Request,
    service: Service = "",
    version: Version = "",
    status: Annotated[str, Query(pattern="^(|ok|error|unset)$")] = "",
    min_duration_ms: Annotated[float, Query(ge=0)] = 0,
    start: From = None,
    end: To = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    """Traces with at least one span matching the filters, newest first, summarised."""
    ctx: ApiContext = request.app.state.ctx
    lo, hi = _window(ctx, start, end)
    spans = ctx.store.spans(
        service=service,
        version=version,
        status=status,
        start=lo,
        end=hi,
        min_duration_ms=min_duration_ms,
        limit=limit * 20,
    )
    found: dict[str, dict[str, Any]] = {}
    for s in spans:
        t = found.get(s.trace_id)
        if t is None:
            if len(found) >= limit:
                continue
            t = found[s.trace_id] = {
                "trace_id": s.trace_id,
                "service": s.service,
                "version": s.version,
                "name": s.name,
                "start": s.start,
                "duration_ms": 0.0,
                "spans": 0,
                "errors": 0,
            }
        t["spans"] += 1
        t["errors"] += s.status == "error"
        if not s.parent_id or s.duration_ms > t["duration_ms"]:
            t.update(name=s.name, start=s.start, duration_ms=round(s.duration_ms, 3))
    return {"traces": list(found.values())}


@router.get("/api/v1/traces/{trace_id}", tags=["telemetry"])
def trace(
    request: Request,
    trace_id: Annotated[str, Path(description="32 lowercase hex digits")],
) -> dict[str, Any]:
    """Every stored span of one trace, by start time (for a waterfall)."""
    tid = trace_id.lower()
    if not _HEX.match(tid):
        raise Problem(400, "a trace id is 32 hexadecimal digits")
    spans = request.app.state.ctx.store.trace(tid)
    if not spans:
        raise Problem(404, f"no spans stored for trace {tid}")
    return {"trace_id": tid, "spans": [span_json(s) for s in spans]}


@router.get("/api/v1/logs", tags=["telemetry"])
def logs(
    request: Request,
    service: Service = "",
    version: Version = "",
    severity: Annotated[str, Query(description="Minimum level, e.g. WARN.")] = "",
    q: Annotated[str, Query(max_length=512, description="Text the body contains.")] = "",
    trace_id: Annotated[str, Query(max_length=64)] = "",
    start: From = None,
    end: To = None,
    limit: Limit = 200,
) -> dict[str, Any]:
    """Log records, newest first."""
    ctx: ApiContext = request.app.state.ctx
    lo, hi = _window(ctx, start, end)
    level = severity_number(severity) if severity else 0
    if severity and not level:
        raise Problem(400, "severity must be TRACE, DEBUG, INFO, WARN, ERROR or FATAL")
    found = ctx.store.logs(
        service=service,
        version=version,
        min_severity=level,
        contains=q,
        trace_id=trace_id,
        start=lo,
        end=hi,
        limit=limit,
    )
    return {"logs": [msgspec.structs.asdict(r) for r in found]}
