"""The audit log: every state-changing request, and ``GET /api/v1/audit`` to read it.

``AuditTrail`` is a plain ASGI middleware. After a POST, PUT, PATCH or DELETE has been
answered it records who asked (the principal the auth dependency left in
``request.state.principal``: its name, kind and role, or "anonymous"), what (method, path,
status, a short detail), when, and from where (the peer address). It never records a
body, a query string (it may carry ``access_token``) or a header. WebSocket
subscriptions, GET, HEAD and OPTIONS change nothing and are not recorded.

Telemetry writes (ingest, OTLP) and the read-only POSTs of rollouts (validate, Flagger's
check) arrive many times a second from machines; they are recorded only when refused for
want of a token or a role (401/403), so the log stays a record of people and their
tools, not a second copy of the telemetry.

The entry goes to an ``AuditWriter`` (store/sqlite/audit.py), which batches and writes it
off the event loop.
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sentra.api.auth import require
from sentra.api.problems import Problem
from sentra.store.sqlite.audit import AuditEntry, AuditWriter

router = APIRouter(tags=["audit"])
CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Machine traffic recorded only when refused (see the module docstring).
_QUIET = re.compile(
    r"^/(api/v1/ingest|api/v1/agents/heartbeat|v1/(traces|metrics|logs)"
    r"|api/v1/rollouts/(validate|[^/]+/check))$"
)
_AUTH_REFUSALS = frozenset({401, 403})
_PATH_MAX = 512
_DETAIL_MAX = 200


def _writer(scope: Scope) -> AuditWriter | None:
    state = getattr(scope.get("app"), "state", None)
    writer: AuditWriter | None = getattr(state, "audit", None)
    return writer


def _entry(scope: Scope, status: int, clock_now: float) -> AuditEntry:
    principal: Any = scope.get("state", {}).get("principal")
    if principal is None:
        actor, kind, role = "anonymous", "", ""
    else:
        actor = str(getattr(principal, "name", "")) or "unnamed"
        kind = str(getattr(principal, "kind", "token"))
        role = str(getattr(principal, "role", ""))
    client = scope.get("client")
    state: dict[str, Any] = scope.get("state", {})
    detail = state.get("audit_detail")
    if detail is None:
        endpoint = scope.get("endpoint")
        detail = getattr(endpoint, "__name__", "") if endpoint is not None else ""
    return AuditEntry(
        ts=clock_now,
        actor=actor,
        actor_kind=kind,
        role=role,
        method=scope["method"],
        path=scope["path"][:_PATH_MAX],
        status=status,
        client=str(client[0]) if client else "",
        detail=str(detail)[:_DETAIL_MAX],
    )


class AuditTrail:
    """Records state-changing requests once they are answered (plain ASGI: no task)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in CHANGING:
            await self.app(scope, receive, send)
            return
        writer = _writer(scope)
        if writer is None:
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})  # shared with request.state, where auth leaves the principal
        status = 0

        async def send_watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_watched)
        except BaseException:
            status = status or 500
            raise
        finally:
            quiet = _QUIET.match(scope["path"]) is not None
            if not quiet or status in _AUTH_REFUSALS:
                # 499: answered by nobody (the client left before any answer was sent).
                writer.record(_entry(scope, status or 499, writer.clock()))


@router.get("/api/v1/audit", dependencies=[Depends(require("admin"))])
async def audit_log(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most entries.")] = 100,
    before_id: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="Page: older than this id.")
    ] = None,
    actor: Annotated[str, Query(max_length=128, description="Only this actor's name.")] = "",
    path: Annotated[
        str, Query(max_length=_PATH_MAX, description="Only paths with this prefix.")
    ] = "",
) -> dict[str, Any]:
    """State-changing requests, newest first: time, actor (name, kind, role), method, path,
    status, client address and a short detail."""
    writer: AuditWriter | None = getattr(request.app.state, "audit", None)
    if writer is None:
        raise Problem(503, "the audit log is not kept on this node")
    await writer.flush()  # what was just done is in the answer
    entries = await asyncio.to_thread(
        writer.store.query, limit=limit, before_id=before_id, actor=actor, path=path
    )
    return {"entries": [e.to_json() for e in entries]}
