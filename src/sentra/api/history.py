"""History and series: /api/v1/series, /api/v1/history and the seed-000 telemetry paths."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from sentra.api.auth import require
from sentra.api.context import ApiContext
from sentra.api.problems import Problem
from sentra.events import parse_label_filter
from sentra.store.base import QueryError, UnknownSeries

router = APIRouter()
viewer = [Depends(require("viewer"))]
admin = [Depends(require("admin"))]


def _ctx(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


MAX_TS = 1e11  # unix seconds (the year 5138): the store keeps milliseconds in int64


def _finite(name: str, value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and abs(value) <= MAX_TS):
        raise Problem(400, f"'{name}' must be a finite number of unix seconds (within ±1e11)")
    return value


def run_history(
    ctx: ApiContext,
    name: str,
    labels: str,
    start: float | None,
    end: float | None,
    granularity: float | None,
    limit: int,
) -> dict[str, Any]:
    now = ctx.clock()
    end = _finite("to", end)
    end = now if end is None else end
    start = _finite("from", start)
    start = end - 3600 if start is None else start
    _finite("granularity", granularity)
    if start > end:
        raise Problem(400, f"'from' ({start:g}) is after 'to' ({end:g}); swap them")
    try:
        label_filter = parse_label_filter(labels)
    except ValueError as exc:
        raise Problem(400, str(exc)) from None
    try:
        result = ctx.store.history(
            name, label_filter, start, end, granularity=granularity, limit=limit, now=now
        )
    except UnknownSeries as exc:
        raise Problem(404, str(exc)) from None
    except QueryError as exc:
        raise Problem(400, str(exc)) from None
    return {
        "from": start,
        "to": end,
        "tier": result.tier,
        "granularity": result.granularity,
        "series": [s.to_json() for s in result.series],
    }


NameQ = Annotated[str, Query(min_length=1, max_length=512, description="Series name.")]
LabelsQ = Annotated[str, Query(max_length=2048, description="Label filter: k=v,k2=v2.")]
FromQ = Annotated[float | None, Query(alias="from", description="Start, unix seconds.")]
ToQ = Annotated[float | None, Query(alias="to", description="End, unix seconds (default now).")]
GranQ = Annotated[float | None, Query(gt=0, description="Bucket width in seconds.")]
LimitQ = Annotated[int, Query(ge=1, le=100_000, description="Most points per series.")]


@router.get("/api/v1/history", dependencies=viewer, tags=["history"])
def history(
    request: Request,
    name: NameQ,
    labels: LabelsQ = "",
    start: FromQ = None,
    end: ToQ = None,
    granularity: GranQ = None,
    limit: LimitQ = 1000,
) -> dict[str, Any]:
    """Points of every series with this name whose labels match, downsampled to ``limit``.

    The tier (raw, or a rollup tier) is picked from the range and granularity; each point
    is ``[ts, avg]`` with ``min``/``max`` arrays alongside for bands.
    """
    return run_history(_ctx(request), name, labels, start, end, granularity, limit)


@router.get("/api/telemetry/history", dependencies=viewer, tags=["seed-000"])
def telemetry_history(
    request: Request,
    name: NameQ = "system.cpu.utilization",
    labels: LabelsQ = "",
    start: FromQ = None,
    end: ToQ = None,
    granularity: GranQ = None,
    limit: LimitQ = 1000,
) -> dict[str, Any]:
    """Seed-000 path: the same as /api/v1/history, defaulting to total CPU of the last hour."""
    return run_history(_ctx(request), name, labels, start, end, granularity, limit)


@router.get("/api/v1/series", dependencies=viewer, tags=["history"])
def series(
    request: Request,
    q: Annotated[str, Query(max_length=256, description="Substring of name or k=v.")] = "",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """The stored series (name and labels), optionally filtered."""
    found = _ctx(request).store.series(q, limit)
    return {"series": [{"name": s.name, "labels": s.labels} for s in found]}


@router.delete("/api/v1/history", dependencies=admin, tags=["history"])
def delete_history(request: Request) -> dict[str, Any]:
    """Wipe every stored sample and rollup (the node keeps sampling)."""
    return {"deleted": _ctx(request).store.delete_history()}


@router.post("/api/telemetry/purge", dependencies=admin, tags=["seed-000"])
def purge(
    request: Request,
    older_than_days: Annotated[
        float | None,
        Query(ge=0, le=100_000, description="Keep the last N days; all when omitted."),
    ] = None,
) -> dict[str, Any]:
    """Seed-000 path: delete history, all of it or what is older than N days."""
    ctx = _ctx(request)
    before = None if older_than_days is None else ctx.clock() - older_than_days * 86400
    return {"deleted": ctx.store.delete_history(before)}


@router.get("/api/telemetry/summary", dependencies=viewer, tags=["seed-000"])
async def summary(request: Request) -> Response:
    """The latest reading of every collector, from the status cache."""
    return Response(_ctx(request).cache.summary_bytes(), media_type="application/json")
