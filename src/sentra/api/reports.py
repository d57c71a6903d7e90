"""KPI reports: render a rollout's or the node's report as PDF, list and download them.

Rendering (operator role) gathers the report from the stores, draws and lays it out in a
worker thread (it is CPU work: the event loop keeps serving), saves it under
``<data dir>/reports/`` and answers with the file's name and URL. Listing and downloading
need the viewer role. A download names a file only by a name the node made; anything
else is refused before the file system is touched.
"""

from __future__ import annotations

import asyncio
import math
import socket
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse

from sentra.api.auth import require
from sentra.api.context import ApiContext
from sentra.api.problems import Problem
from sentra.report.data import ReportNotFound, ReportWindowError, node_report, rollout_report
from sentra.report.model import Report
from sentra.report.service import BadReportName, ReportService, SavedReport
from sentra.state.atomic import read_json
from sentra.state.runtime import RuntimeState

router = APIRouter(tags=["reports"])
DEFAULT_NODE_WINDOW_S = 86400.0


def _ctx(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


def reports_service(ctx: ApiContext) -> ReportService:
    return ReportService(ctx.layout.reports)


def _time(name: str, value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and abs(value) <= 1e11):
        raise Problem(400, f"'{name}' must be a finite number of unix seconds")
    return value


async def _save(request: Request, report: Report) -> dict[str, Any]:
    ctx = _ctx(request)
    saved: SavedReport = await asyncio.to_thread(reports_service(ctx).render, report)
    request.state.audit_detail = f"report {saved.name}"
    return saved.to_json()


@router.post(
    "/api/v1/reports/rollouts/{name}",
    dependencies=[Depends(require("operator"))],
    status_code=201,
)
async def rollout_report_pdf(
    request: Request,
    name: Annotated[str, Path(max_length=63, description="The rollout's name.")],
) -> dict[str, Any]:
    """Render the KPI report of one rollout: its gates with thresholds, measured values
    and PASS/FAIL stamps, the judge, charts of the gate series and the traffic split, and
    the decision timeline."""
    ctx = _ctx(request)
    ctl = ctx.rollouts
    if ctl is None:
        raise Problem(503, "the rollout controller is not running on this node")
    try:
        report = await asyncio.to_thread(
            rollout_report, ctl.rollouts, ctx.store, name, now=ctx.clock()
        )
    except ReportNotFound:
        raise Problem(
            404, f"there is no rollout named {name!r} (list them with GET /api/v1/rollouts)"
        ) from None
    return await _save(request, report)


@router.post("/api/v1/reports/node", dependencies=[Depends(require("operator"))], status_code=201)
async def node_report_pdf(
    request: Request,
    start: Annotated[
        float | None, Query(alias="from", description="Start, unix seconds (default: to - 24 h).")
    ] = None,
    end: Annotated[
        float | None, Query(alias="to", description="End, unix seconds (default now).")
    ] = None,
) -> dict[str, Any]:
    """Render the node's KPI report over a window: host series summaries (CPU, memory,
    disks, GPUs when present) with charts, the ingest counters and the recent alerts."""
    ctx = _ctx(request)
    now = ctx.clock()
    t2 = _time("to", end)
    t2 = now if t2 is None else t2
    t1 = _time("from", start)
    t1 = t2 - DEFAULT_NODE_WINDOW_S if t1 is None else t1
    checkpoint = read_json(ctx.layout.state / "runtime.json", RuntimeState(), type=RuntimeState)
    ing = ctx.ingestor
    ingest = {
        "events committed since start": f"{ing.committed_events:,}",
        "rate now": f"{ing.rate:,.1f} events/s",
        "refused (overload)": f"{ing.rejected_overload:,}",
    }
    try:
        report = await asyncio.to_thread(
            node_report,
            ctx.store,
            start=t1,
            end=t2,
            now=now,
            host=socket.gethostname(),
            ingest=ingest,
            alerts=checkpoint.alerts_recent,
        )
    except ReportWindowError as exc:
        raise Problem(400, str(exc)) from None
    return await _save(request, report)


@router.get("/api/v1/reports", dependencies=[Depends(require("viewer"))])
async def list_reports(request: Request) -> dict[str, Any]:
    """The saved reports, newest first, each with its download URL."""
    found = await asyncio.to_thread(reports_service(_ctx(request)).list)
    return {"reports": [r.to_json() for r in found]}


@router.get(
    "/api/v1/reports/{file}",
    dependencies=[Depends(require("viewer"))],
    response_class=FileResponse,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def download_report(
    request: Request,
    file: Annotated[str, Path(max_length=160, description="A name from GET /api/v1/reports.")],
) -> FileResponse:
    """Download one saved report (application/pdf)."""
    try:
        path = reports_service(_ctx(request)).path(file)
    except BadReportName:
        raise Problem(
            400, f"{file!r} is not the name of a report (take one from GET /api/v1/reports)"
        ) from None
    if path is None:
        raise Problem(404, f"there is no report named {file!r}")
    return FileResponse(
        path,
        media_type="application/pdf",
        filename=path.name,
        content_disposition_type="attachment",
    )
