"""One error shape for every API error: RFC 9457 application/problem+json."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sentra.store.sql import DatabaseUnavailable

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"
_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


class Problem(Exception):
    """Raise from a handler to answer with a problem document."""

    def __init__(
        self, status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers
        self.extra = extra


def problem_response(
    status: int,
    detail: str,
    *,
    instance: str = "",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


# Inputs of fields with these words in their name are never echoed back (a password that
# is too short is still a password), and any echo is cut short.
_SECRET_WORDS = ("password", "secret", "token", "otp", "code", "key", "credential")
_ECHO_MAX = 80


def _describe(err: dict[str, Any]) -> str:
    loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "body", "path", "header")]
    where = ".".join(loc) or "request"
    got = err.get("input")
    shown = ""
    secret = any(word in where.lower() for word in _SECRET_WORDS)
    if got is not None and not isinstance(got, dict | list) and not secret:
        text = repr(got)
        shown = f" (got {text[:_ECHO_MAX]}{'…' if len(text) > _ECHO_MAX else ''})"
    return f"{where}: {err.get('msg', 'invalid')}{shown}"


GENERIC_500 = "the node hit an internal error; it is in the node's log"


class CatchAll:
    """Turns an exception no handler took into the generic 500 problem, inside the other
    middlewares (so the answer still carries the security headers and is audited) and
    without re-raising it (the traceback goes to the node's log once, not also to
    uvicorn's stderr). Starlette's own last resort, outside every middleware, stays as the
    fallback for a failure in a middleware itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_watched)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope["path"])
            if started:  # part of an answer is out: nothing sound can follow it
                raise
            response = problem_response(500, GENERIC_500, instance=scope["path"])
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status, exc.detail, instance=request.url.path, headers=exc.headers, **exc.extra
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "")
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"there is nothing at {request.url.path}"
        if exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        return problem_response(
            exc.status_code,
            detail,
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_describe(e) for e in exc.errors()]
        return problem_response(400, "; ".join(errors), instance=request.url.path, errors=errors)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> JSONResponse:
        # The client went away mid-body: nobody reads this answer, and it is no error of
        # the node's (no traceback in the log).
        log.debug("client left during the body of %s %s", request.method, request.url.path)
        return problem_response(400, "the request body ended early", instance=request.url.path)

    @app.exception_handler(DatabaseUnavailable)
    async def _database_away(request: Request, exc: DatabaseUnavailable) -> JSONResponse:
        # PostgreSQL restarting or failing over: the node is fine and will reconnect by
        # itself (store/sql.py, which logs the outage once); the client only has to retry.
        log.debug("%s %s: %s", request.method, request.url.path, exc)
        return problem_response(
            503, str(exc), instance=request.url.path, headers={"Retry-After": "1"}
        )

    @app.exception_handler(RecursionError)
    async def _too_deep(request: Request, exc: RecursionError) -> JSONResponse:
        # A parser meeting absurd nesting (msgpack, gzipped JSON: bodies the depth scan of
        # api/limits.py does not read) recurses until Python stops it.
        return problem_response(
            400,
            "the body nests too many levels deep to be read; flatten it",
            instance=request.url.path,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, GENERIC_500, instance=request.url.path)
