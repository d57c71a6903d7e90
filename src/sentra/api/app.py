"""The app factory: builds the FastAPI app around an ApiContext."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response

from sentra import __version__
from sentra.api import history, metrics, preferences, problems, static, storage
from sentra.api.context import ApiContext

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        h = response.headers
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "no-referrer")
        h.setdefault("X-Frame-Options", "DENY")
        if not request.url.path.startswith(("/docs", "/redoc")):
            h.setdefault("Content-Security-Policy", CSP)
        return response


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
    app.include_router(static.router)
    return app
