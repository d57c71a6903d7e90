"""The app factory: builds the FastAPI app around an ApiContext."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sentra import __version__
from sentra.api import (
    account,
    agents,
    alerts,
    audit,
    history,
    ingest,
    insight,
    limits,
    live,
    metrics,
    otlp,
    preferences,
    problems,
    records,
    reports,
    rollouts,
    static,
    storage,
    wireguard,
)
from sentra.api.context import ApiContext
from sentra.store.sqlite.audit import AuditWriter

# The dashboard's policy: nothing but its own files. Inline styles stay allowed (the charts
# set style attributes); scripts, frames, plugins and foreign connections do not.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; connect-src {connect}; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
PERMISSIONS = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
HSTS = "max-age=31536000"
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def content_security_policy(scope: Scope) -> str:
    """CSP for this request: the live WebSocket may connect back to the host the page came
    from (named explicitly: browsers before CSP 3 do not count ws: as 'self'), nowhere else."""
    connect = "'self'"
    host = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"host"), "")
    if _HOST.fullmatch(host):
        scheme = "wss" if scope.get("scheme") == "https" else "ws"
        connect += f" {scheme}://{host}"
    return CSP.format(connect=connect)


class SecurityHeaders:
    """Adds security headers to every HTTP response (plain ASGI: no per-request task)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        csp = "" if path.startswith(("/docs", "/redoc")) else content_security_policy(scope)
        data = path.startswith(("/api/", "/v1/", "/metrics"))
        tls = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
                headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
                headers.setdefault("Permissions-Policy", PERMISSIONS)
                if csp:
                    headers.setdefault("Content-Security-Policy", csp)
                if data:  # answers may carry tokens and telemetry: no shared caches
                    headers.setdefault("Cache-Control", "no-store")
                if tls:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(
    ctx: ApiContext,
    *,
    webui: Path | None = None,
    accounts: account.Accounts | None = None,
    audit_writer: AuditWriter | None = None,
) -> FastAPI:
    app = FastAPI(
        title="Sentra",
        version=__version__,
        description="Self-hosted telemetry node. Every endpoint except /api/health needs "
        "'Authorization: Bearer <token>'. Errors are application/problem+json.",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.registry = metrics.build_registry(ctx)
    app.state.webui = webui or static.WEBUI
    app.state.accounts = accounts  # users and sign-in; None: API tokens only
    app.state.audit = audit_writer  # the audit log's writer; None: nothing is recorded
    problems.install(app)
    # Outermost last: audit sees the final status (413s included), every answer gets the
    # security headers, CORS (closed unless origins are configured) answers preflights.
    app.add_middleware(limits.BodyLimits)
    origins = list(ctx.settings.server.cors_origins) if ctx is not None else []
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Content-Encoding"],
            max_age=600,
        )
    app.add_middleware(problems.CatchAll)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(audit.AuditTrail)
    app.include_router(storage.router)
    app.include_router(history.router)
    app.include_router(metrics.router)
    app.include_router(preferences.router)
    app.include_router(ingest.router)
    app.include_router(insight.router)
    app.include_router(agents.router)
    app.include_router(records.router)
    app.include_router(live.router)
    app.include_router(otlp.router)
    app.include_router(rollouts.router)
    app.include_router(reports.router)
    app.include_router(alerts.router)
    app.include_router(wireguard.router)
    app.include_router(account.router)
    app.include_router(audit.router)
    app.include_router(static.router)
    return app
