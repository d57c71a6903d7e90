"""Bearer-token authentication, declared per route: ``Depends(require("admin"))``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from sentra.api.problems import Problem
from sentra.auth.tokens import TokenInfo, role_allows

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="sentra"'}


def require(role: str = "viewer") -> Callable[[Request], Awaitable[TokenInfo]]:
    async def dependency(request: Request) -> TokenInfo:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Problem(
                401,
                "this endpoint needs a token: send 'Authorization: Bearer "
                "<token>' (create one with 'sentra token create')",
                headers=_CHALLENGE,
            )
        info: TokenInfo | None = request.app.state.ctx.tokens.verify(token.strip())
        if info is None:
            raise Problem(
                401,
                "the token is not valid (revoked, mistyped or from another node)",
                headers=_CHALLENGE,
            )
        if not role_allows(info.role, role):
            raise Problem(403, f"this needs the {role} role; your token has {info.role}")
        request.state.principal = info
        return info

    dependency.__name__ = f"require_{role}"
    return dependency
