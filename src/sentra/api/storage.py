"""Storage info and housekeeping (seed 004): /api/v1/storage/*, health, whoami."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Depends, Request

from sentra import __version__
from sentra.api.auth import Principal, require
from sentra.api.context import ApiContext

router = APIRouter()


@router.get("/api/health", tags=["node"])
async def health(request: Request) -> dict[str, Any]:
    """Liveness; the only endpoint that needs no token."""
    ctx: ApiContext = request.app.state.ctx
    return {
        "status": "ok",
        "version": __version__,
        "uptime_s": round(ctx.clock() - ctx.started_at, 1),
    }


@router.get("/api/v1/whoami", tags=["node"])
async def whoami(info: Principal = Depends(require("viewer"))) -> dict[str, Any]:  # noqa: B008
    """The name, role and kind of the credential used (see also GET /api/v1/auth/me)."""
    return {"name": info.name, "role": info.role, "kind": info.kind, "token_id": info.id}


@router.get("/api/v1/storage/info", dependencies=[Depends(require("viewer"))], tags=["storage"])
def storage_info(request: Request) -> dict[str, Any]:
    """Paths, bytes per subfolder, a history summary and whether the last run ended uncleanly."""
    ctx: ApiContext = request.app.state.ctx
    return {
        "data_dir": str(ctx.layout.root),
        "db_path": str(ctx.settings.db_path),
        "usage": ctx.layout.usage(),
        "history": dataclasses.asdict(ctx.store.stats()),
        "previous_run_unclean": ctx.previous_run_unclean,
    }


@router.post(
    "/api/v1/storage/cache/clear", dependencies=[Depends(require("admin"))], tags=["storage"]
)
def clear_cache(request: Request) -> dict[str, Any]:
    """Delete the files under cache/ and nothing else."""
    ctx: ApiContext = request.app.state.ctx
    files, freed = ctx.layout.clear_cache()
    return {"files": files, "bytes": freed}
