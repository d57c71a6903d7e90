"""The app factory: builds the FastAPI app around an ApiContext."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sentra import __version__
from sentra.api import (
    history,
    ingest,
    live,
    metrics,
    otlp,
    preferences,
    problems,
    records,
    rollouts,
    static,
    storage,
)
from sentra.api.context import ApiContext

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)


class SecurityHeaders:
    """Adds security headers to every HTTP response (plain ASGI: no per-request task)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with_csp = not scope["path"].startswith(("/docs", "/redoc"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("X-Frame-Options", "DENY")
                if with_csp:
                    headers.setdefault("Content-Security-Policy", CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(ctx: ApiContext, *, webui: Path | None = None) -> FastAPI:
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
    problems.install(app)
    app.add_middleware(SecurityHeaders)
    app.include_router(storage.router)
    app.include_router(history.router)
    app.include_router(metrics.router)
    app.include_router(preferences.router)
    app.include_router(ingest.router)
    app.include_router(records.router)
    app.include_router(live.router)
    app.include_router(otlp.router)
    app.include_router(rollouts.router)
    app.include_router(static.router)
    return app
