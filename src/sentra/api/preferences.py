"""User preferences (config/preferences.json): small JSON the dashboard keeps on the node."""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import APIRouter, Depends, Request

from sentra.api.auth import require
from sentra.api.context import ApiContext
from sentra.api.problems import Problem
from sentra.state.atomic import read_json, write_json_atomic

router = APIRouter()
MAX_BYTES = 64 * 1024


def preferences_path(ctx: ApiContext) -> Any:
    return ctx.layout.config / "preferences.json"


def load_preferences(ctx: ApiContext) -> dict[str, Any]:
    """The stored preferences; a missing or damaged file gives {} (and a log warning)."""
    prefs: Any = read_json(preferences_path(ctx), {}, type=dict[str, Any])
    return prefs if isinstance(prefs, dict) else {}


@router.get("/api/v1/preferences", dependencies=[Depends(require("viewer"))], tags=["node"])
def get_preferences(request: Request) -> dict[str, Any]:
    """The preferences object stored on the node (theme, chosen charts, …)."""
    return load_preferences(request.app.state.ctx)


@router.put("/api/v1/preferences", dependencies=[Depends(require("operator"))], tags=["node"])
async def put_preferences(request: Request) -> dict[str, Any]:
    """Replace the preferences with the JSON object in the body (at most 64 KiB)."""
    body = await request.body()
    if len(body) > MAX_BYTES:
        raise Problem(413, f"preferences are limited to {MAX_BYTES} bytes")
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise Problem(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise Problem(400, "preferences must be a JSON object")
    write_json_atomic(preferences_path(request.app.state.ctx), value)
    return value
