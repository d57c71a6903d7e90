"""What the node learnt about its machines: GET /api/v1/insight (viewer) and
POST /api/v1/state/reset/baseline (admin, audited) to make it learn afresh.

The service (sentra.insight) is attached by the composition root; a node with
``[insight] enabled = false`` answers 503 here.
"""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import APIRouter, Depends, FastAPI, Request

from sentra.api.auth import require
from sentra.api.bodies import read_body
from sentra.api.problems import Problem
from sentra.insight import InsightService

router = APIRouter(tags=["insight"])
MAX_BODY = 4096


class ResetBody(msgspec.Struct, forbid_unknown_fields=True):
    """Which baselines to forget; neither: all of them."""

    host: str | None = None
    series: str | None = None  # a series name, or its name{k="v",...} key


def _service(request: Request) -> InsightService:
    service: InsightService | None = getattr(request.app.state, "insight", None)
    if service is None:
        raise Problem(503, "insight is off on this node ([insight] enabled)")
    return service


@router.get("/api/v1/insight", dependencies=[Depends(require("viewer"))])
def insight(request: Request) -> dict[str, Any]:
    """Per host: stress and stability (0-100), the anomaly rate (% of its series anomalous
    now), predictions (hours until each disk and the memory are full, the memory trend) and
    the series anomalous now. As of the service's last write (every [insight]
    emit_interval_s)."""
    return _service(request).overview()


@router.post("/api/v1/state/reset/baseline", dependencies=[Depends(require("admin"))])
async def reset_baseline(request: Request) -> dict[str, Any]:
    """Forget learnt baselines while the node runs: all of them, or those of one host
    and/or one series (body ``{"host": "...", "series": "..."}``, optional). The series
    start learning again from their next sample; the file under state/ is rewritten at once."""
    service = _service(request)
    body = await read_body(request, MAX_BODY)
    try:
        what = msgspec.json.decode(body, type=ResetBody) if body.strip() else ResetBody()
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise Problem(400, f"the body must be {{'host'?: str, 'series'?: str}}: {exc}") from None
    forgotten = service.reset(host=what.host, series=what.series)
    scope = ", ".join(f"{k}={v}" for k, v in (("host", what.host), ("series", what.series)) if v)
    request.state.audit_detail = f"baselines reset ({scope or 'all'}): {forgotten} series"
    try:
        await service.save()
    except OSError as exc:
        raise Problem(503, f"the baselines were reset but could not be saved: {exc}") from None
    return {"reset": forgotten, "host": what.host, "series": what.series}


def attach(app: FastAPI, service: InsightService) -> None:
    """Serve ``service`` under /api/v1/insight and /api/v1/state/reset/baseline."""
    app.state.insight = service
