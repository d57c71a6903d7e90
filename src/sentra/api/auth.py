"""Authentication, declared per route: ``Depends(require("admin"))``.

A request proves who it is with ``Authorization: Bearer <credential>``, where the credential
is either an API token (``sentra_<id>_<secret>``, for automation; unaffected by 2FA) or an
access token (a JWT from ``POST /api/v1/auth/login``). Either way the route gets one
:class:`Principal` (also at ``request.state.principal``) with ``.name``, ``.role`` and
``.kind`` (``"token"`` or ``"user"``). A user's role, disabled flag and session are read from
the database at every request, so a demotion, a removal or a sign-out takes effect at once
rather than when the access token expires.

Failures are 401 (no, malformed, expired, revoked or foreign credential) or 403 (the
credential is good but its role is too low), as problem documents.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Request

from sentra.api.problems import Problem
from sentra.auth.jwt import TokenError
from sentra.auth.tokens import ROLES, role_allows

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="sentra"'}
_INVALID = {"WWW-Authenticate": 'Bearer realm="sentra", error="invalid_token"'}
TOKEN_PREFIX = "sentra_"  # noqa: S105 - a prefix, not a secret


@dataclass(frozen=True)
class Principal:
    """Who made a request: an API token or a signed-in user."""

    name: str
    role: str
    kind: Literal["token", "user"]
    id: str  # the token id, or the user name
    session_id: str | None = None  # the sign-in session of a user
    totp_enabled: bool = False


class AuthFailure(Exception):
    """A credential that is refused (always a 401)."""

    def __init__(self, detail: str, *, expired: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.expired = expired


def bearer(authorization: str) -> str | None:
    scheme, _, token = authorization.partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def authenticate(app_state: Any, credential: str) -> Principal:
    """The principal behind an API token or access token; raise AuthFailure otherwise."""
    ctx = app_state.ctx
    if credential.startswith(TOKEN_PREFIX):
        info = ctx.tokens.verify(credential)
        if info is None:
            raise AuthFailure("the token is not valid (revoked, mistyped or from another node)")
        return Principal(info.name, info.role, "token", info.id)
    accounts = getattr(app_state, "accounts", None)
    if credential.count(".") != 2 or accounts is None or len(credential) > 8192:
        raise AuthFailure(
            "the credential is malformed: send an API token (sentra_…) or an access token "
            "from POST /api/v1/auth/login"
        )
    now = ctx.clock()
    try:
        claims = accounts.keys.verify(credential, now)
    except TokenError as exc:
        raise AuthFailure(exc.detail, expired=exc.expired) from None
    if accounts.sessions.active(claims.sid, now) is None:
        raise AuthFailure("this sign-in has ended (signed out, password changed or revoked)")
    user = accounts.users.get(claims.sub)
    if user is None or user.disabled or user.role not in ROLES:
        raise AuthFailure("this user no longer exists or is disabled")
    return Principal(user.name, user.role, "user", user.name, claims.sid, user.totp_enabled)


def principal_from(request: Request) -> Principal:
    """Authenticate the request's bearer credential (401 problem on failure)."""
    credential = bearer(request.headers.get("authorization", ""))
    if credential is None:
        raise Problem(
            401,
            "this endpoint needs a token: send 'Authorization: Bearer <token>' (sign in, or "
            "create an API token with 'sentra token create')",
            headers=_CHALLENGE,
        )
    try:
        return authenticate(request.app.state, credential)
    except AuthFailure as exc:
        extra = {"token_expired": True} if exc.expired else {}
        raise Problem(401, exc.detail, headers=_INVALID, **extra) from None


def require(role: str = "viewer") -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that lets through principals of ``role`` or above."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")

    async def dependency(request: Request) -> Principal:
        principal = principal_from(request)
        request.state.principal = principal  # before the role check: a 403 is audited by name
        if not role_allows(principal.role, role):
            what = "your token" if principal.kind == "token" else f"user {principal.name!r}"
            raise Problem(403, f"this needs the {role} role; {what} has {principal.role}")
        return principal

    dependency.__name__ = f"require_{role}"
    dependency.required_role = role  # type: ignore[attr-defined]  # read by the route guard test
    return dependency
