"""Accounts over HTTP: sign-in, sessions, passwords, TOTP, and the admin's users and tokens.

Sign-in (``/login``, ``/link``) answers a short-lived access token (JWT) in the body and a
refresh token in the ``sentra_refresh`` cookie (HttpOnly, SameSite=Strict, scoped to
``/api/v1/auth``, Secure over TLS): page scripts never see the long-lived secret, and no
other site can make the browser send it. ``/refresh`` rotates the cookie; ``/logout`` ends
the session. Every sign-in endpoint is throttled per user name and per client address
(auth/throttle.py); password hashing runs on worker threads, two at a time.

Routes other than ``/login``, ``/link`` and ``/refresh`` declare ``require(role)`` next to
them; tests/integration/test_route_guard.py checks every route of the app.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sentra import qr
from sentra.api.auth import AuthFailure, Principal, authenticate, bearer, require
from sentra.api.problems import Problem
from sentra.auth.jwt import KeyRing
from sentra.auth.sessions import RefreshError, SessionStore
from sentra.auth.throttle import Key, Limit, Throttle
from sentra.auth.tokens import ROLES
from sentra.auth.users import (
    PasswordPolicyError,
    Passwords,
    User,
    UserError,
    UserStore,
    check_password,
    normalize_name,
)
from sentra.config import AuthSettings
from sentra.store.sql import DbTarget, as_target, open_db

log = logging.getLogger("sentra.auth")
COOKIE = "sentra_refresh"
COOKIE_PATH = "/api/v1/auth"
FIRST_ADMIN = "admin"
WRONG = "wrong username or password"

router = APIRouter(tags=["accounts"])
Viewer = Annotated[Principal, Depends(require("viewer"))]
Admin = Annotated[Principal, Depends(require("admin"))]


class Accounts:
    """Users, sessions, signing keys and the throttle of one node (one database connection)."""

    def __init__(
        self,
        settings: AuthSettings,
        db: DbTarget | Path,
        key_path: Path,
        *,
        now: float,
        passwords: Passwords | None = None,
        public_url: str = "",
    ) -> None:
        self.settings = settings
        self.public_url = public_url
        self._conn = open_db(as_target(db))
        self.users = UserStore(self._conn)
        self.sessions = SessionStore(self._conn)
        self.sessions.prune(now)
        self.keys = KeyRing(key_path, access_ttl_s=settings.access_ttl_s, now=now)
        forget = settings.lockout_forget_s
        self.throttle = Throttle(
            {
                "user": Limit(
                    settings.lockout_user_failures,
                    settings.lockout_base_s,
                    settings.lockout_max_s,
                    forget,
                ),
                "ip": Limit(
                    settings.lockout_ip_failures,
                    settings.lockout_base_s,
                    settings.lockout_max_s,
                    forget,
                ),
            }
        )
        self.passwords = passwords or Passwords()
        self._hashing = asyncio.Semaphore(2)  # argon2 takes 19 MiB and ~45 ms per call

    async def verify(self, stored: str | None, password: str) -> bool:
        async with self._hashing:
            return await asyncio.to_thread(self.passwords.verify, stored, password)

    async def hash(self, password: str) -> str:
        async with self._hashing:
            return await asyncio.to_thread(self.passwords.hash, password)

    def first_admin(self, *, now: float) -> str | None:
        """On a node without users: the user ``admin`` (no password) and a sign-in code."""
        if self.users.count():
            return None
        self.users.add(FIRST_ADMIN, "admin", None, now=now)
        return self.users.issue_code(FIRST_ADMIN, now=now, ttl_s=self.settings.signin_link_ttl_s)

    def close(self) -> None:
        self._conn.close()


# --------------------------------------------------------------------------- helpers


def _accounts(request: Request) -> Accounts:
    accounts: Accounts | None = getattr(request.app.state, "accounts", None)
    if accounts is None:
        raise Problem(503, "user accounts are not available on this node")
    return accounts


def _now(request: Request) -> float:
    clock = getattr(request.app.state.ctx, "clock", time.time)
    return float(clock())


def _ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _throttled(accounts: Accounts, keys: list[Key], now: float) -> None:
    """Count an attempt, or refuse it with 429 while a key is locked out."""
    refused = accounts.throttle.attempt(keys, now)
    if refused is None:
        return
    when = datetime.fromtimestamp(refused.until, UTC).strftime("%H:%M:%S UTC")
    who = "this user name" if refused.scope == "user" else "this address"
    log.warning("sign-in throttled for %s (%s)", who, refused.scope)
    raise Problem(
        429,
        f"too many failed attempts for {who}; try again in {refused.retry_after_header} s "
        f"(after {when})",
        headers={"Retry-After": refused.retry_after_header},
        retry_after_s=int(refused.retry_after_header),
    )


def _secure(request: Request, accounts: Accounts) -> bool:
    mode = accounts.settings.cookie_secure
    if mode != "auto":
        return mode == "on"
    return request.url.scheme == "https" or accounts.public_url.startswith("https:")


def _cookie(request: Request, accounts: Accounts, value: str, max_age: int) -> str:
    parts = [
        f"{COOKIE}={value}",
        "HttpOnly",
        "SameSite=Strict",
        f"Path={COOKIE_PATH}",
        f"Max-Age={max_age}",
    ]
    if _secure(request, accounts):
        parts.append("Secure")
    return "; ".join(parts)


def _access(
    request: Request,
    accounts: Accounts,
    user: User,
    sid: str,
    refresh: str,
    expires_at: float,
    **extra: Any,
) -> JSONResponse:
    now = _now(request)
    token, _ = accounts.keys.issue(sub=user.name, role=user.role, sid=sid, now=now)
    body: dict[str, Any] = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": int(accounts.settings.access_ttl_s),
        "user": {"name": user.name, "role": user.role, "totp_enabled": user.totp_enabled},
        **extra,
    }
    resp = JSONResponse(body, headers={"Cache-Control": "no-store"})
    resp.headers.append(
        "set-cookie", _cookie(request, accounts, refresh, max(0, int(expires_at - now)))
    )
    return resp


def _sign_in(request: Request, accounts: Accounts, user: User, **extra: Any) -> JSONResponse:
    now = _now(request)
    session, refresh = accounts.sessions.start(
        user.name, now=now, ttl_s=accounts.settings.refresh_ttl_s
    )
    log.info("signed in: %s from %s", user.name, _ip(request))
    return _access(request, accounts, user, session.id, refresh, session.expires_at, **extra)


def _clear_cookie(request: Request, accounts: Accounts, resp: Response) -> None:
    resp.headers.append("set-cookie", _cookie(request, accounts, "", 0))


def _user_of(principal: Principal) -> str:
    if principal.kind != "user":
        raise Problem(403, "this is for signed-in users; an API token has no password or 2FA")
    return principal.name


def _policy(name: str, password: str) -> None:
    try:
        check_password(name, password)
    except PasswordPolicyError as exc:
        raise Problem(400, str(exc)) from None


def _user_problem(exc: UserError) -> Problem:
    return Problem(exc.status, str(exc))


# --------------------------------------------------------------------------- sign-in


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(max_length=128)
    password: str = Field(max_length=1024)
    totp: str | None = Field(None, max_length=16)


@router.post("/api/v1/auth/login")
async def login(request: Request, body: Login) -> JSONResponse:
    """Sign in with a user name and password (and a TOTP code when 2FA is on)."""
    accounts = _accounts(request)
    name = normalize_name(body.username)
    keys: list[Key] = [("user", name), ("ip", _ip(request))]
    _throttled(accounts, keys, _now(request))
    user = accounts.users.get(name)
    stored = accounts.users.password_hash(name) if user else None
    if not await accounts.verify(stored, body.password) or user is None:
        log.warning(
            "failed sign-in for %s from %s", user.name if user else "an unknown name", _ip(request)
        )
        raise Problem(401, WRONG)
    now = _now(request)
    if user.totp_enabled:
        if not body.totp:
            accounts.throttle.refund(keys, now)  # the client did not know to ask: not a guess
            raise Problem(
                401, "enter the 6-digit code of your authenticator app", totp_required=True
            )
        if not accounts.users.totp_check(name, body.totp, now=now):
            log.warning("wrong TOTP code for %s from %s", name, _ip(request))
            raise Problem(401, "the code is wrong or was already used", totp_required=True)
    accounts.throttle.success(keys, now)
    if user.disabled:
        raise Problem(403, "this account is disabled; ask an admin")
    if stored and accounts.passwords.needs_rehash(stored):
        accounts.users.update(name, now=now, password_hash=await accounts.hash(body.password))
    return _sign_in(request, accounts, user)


class Link(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(max_length=200)


@router.post("/api/v1/auth/link")
async def link(request: Request, body: Link) -> JSONResponse:
    """Sign in with a one-time code (the first-start link); it works once."""
    accounts = _accounts(request)
    keys: list[Key] = [("ip", _ip(request))]
    now = _now(request)
    _throttled(accounts, keys, now)
    user = accounts.users.redeem_code(body.code.strip(), now=now)
    if user is None or user.disabled:
        raise Problem(
            401,
            "this sign-in link is not valid (already used or expired); make a new one with "
            "'sentra user link <name>'",
        )
    accounts.throttle.success(keys, now)
    return _sign_in(request, accounts, user, must_set_password=not user.has_password)


@router.post("/api/v1/auth/refresh")
async def refresh(request: Request) -> JSONResponse:
    """A new access token for the refresh cookie, and the next cookie (rotation)."""
    accounts = _accounts(request)
    keys: list[Key] = [("ip", _ip(request))]
    now = _now(request)
    _throttled(accounts, keys, now)
    try:
        session, new = accounts.sessions.rotate(request.cookies.get(COOKIE, ""), now=now)
    except RefreshError as exc:
        if exc.reused:
            log.warning(
                "a spent refresh token was shown again from %s: session revoked", _ip(request)
            )
        resp = JSONResponse(
            {"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": exc.detail},
            status_code=401,
            media_type="application/problem+json",
        )
        _clear_cookie(request, accounts, resp)
        return resp
    user = accounts.users.get(session.user)
    if user is None or user.disabled:
        accounts.sessions.revoke(session.id, now=now, reason="user gone")
        raise Problem(401, "this user no longer exists or is disabled")
    accounts.throttle.success(keys, now)
    return _access(request, accounts, user, session.id, new, session.expires_at)


@router.post("/api/v1/auth/logout", status_code=204)
async def logout(request: Request) -> Response:
    """End this sign-in: the session of the access token and of the cookie. The cookie
    alone is enough, so a tab whose access token has expired can still end its session;
    without either it changes nothing (and still answers 204)."""
    accounts = _accounts(request)
    now = _now(request)
    credential = bearer(request.headers.get("authorization", ""))
    if credential is not None:
        try:
            principal = authenticate(request.app.state, credential)
        except AuthFailure:
            principal = None
        if principal is not None and principal.session_id:
            accounts.sessions.revoke(principal.session_id, now=now)
    cookie = request.cookies.get(COOKIE)
    if cookie and (sid := accounts.sessions.session_of(cookie)):
        accounts.sessions.revoke(sid, now=now)
    resp = Response(status_code=204)
    _clear_cookie(request, accounts, resp)
    return resp


@router.get("/api/v1/auth/me")
async def me(principal: Viewer) -> dict[str, Any]:
    """Who the credential belongs to."""
    return {
        "name": principal.name,
        "role": principal.role,
        "kind": principal.kind,
        "totp_enabled": principal.totp_enabled,
    }


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current: str = Field("", max_length=1024)
    new: str = Field(max_length=1024)


@router.post("/api/v1/auth/password")
async def change_password(
    request: Request, body: PasswordChange, principal: Viewer
) -> JSONResponse:
    """Change your password (``current`` may be empty while you have none); every other
    sign-in of yours ends, and this one continues with fresh tokens."""
    accounts = _accounts(request)
    name = _user_of(principal)
    stored = accounts.users.password_hash(name)
    if stored is not None:
        keys: list[Key] = [("user", name), ("ip", _ip(request))]
        _throttled(accounts, keys, _now(request))
        if not await accounts.verify(stored, body.current):
            raise Problem(401, "the current password is wrong")
        accounts.throttle.success(keys, _now(request))
    _policy(name, body.new)
    now = _now(request)
    user = accounts.users.update(name, now=now, password_hash=await accounts.hash(body.new))
    ended = accounts.sessions.revoke_user(name, now=now, reason="password changed")
    log.info("password changed: %s (%d sessions ended)", name, ended)
    return _sign_in(request, accounts, user)


class Code(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(max_length=16)


@router.post("/api/v1/auth/totp/setup")
async def totp_setup(request: Request, principal: Viewer) -> dict[str, str]:
    """A new TOTP secret to scan; it takes effect once a code is confirmed (enable)."""
    try:
        secret, uri = _accounts(request).users.totp_begin(_user_of(principal))
    except UserError as exc:
        raise _user_problem(exc) from None
    return {"secret": secret, "otpauth_uri": uri, "qr_svg": qr.svg(uri).decode()}


def _code_attempt(request: Request, name: str) -> tuple[Accounts, list[Key], float]:
    accounts = _accounts(request)
    keys: list[Key] = [("user", name), ("ip", _ip(request))]
    now = _now(request)
    _throttled(accounts, keys, now)
    return accounts, keys, now


@router.post("/api/v1/auth/totp/enable")
async def totp_enable(request: Request, body: Code, principal: Viewer) -> dict[str, bool]:
    """Turn 2FA on by confirming a code of the secret from setup."""
    name = _user_of(principal)
    accounts, keys, now = _code_attempt(request, name)
    try:
        ok = accounts.users.totp_enable(name, body.code, now=now)
    except UserError as exc:
        accounts.throttle.refund(keys, now)
        raise _user_problem(exc) from None
    if not ok:
        raise Problem(400, "the code is wrong: check the device's clock and try the next one")
    accounts.throttle.success(keys, now)
    log.info("two-factor sign-in on: %s", name)
    return {"totp_enabled": True}


@router.post("/api/v1/auth/totp/disable")
async def totp_disable(request: Request, body: Code, principal: Viewer) -> dict[str, bool]:
    """Turn 2FA off; needs a current code."""
    name = _user_of(principal)
    accounts, keys, now = _code_attempt(request, name)
    if not accounts.users.totp_check(name, body.code, now=now):
        raise Problem(400, "the code is wrong or was already used")
    accounts.throttle.success(keys, now)
    accounts.users.totp_disable(name, now=now)
    log.info("two-factor sign-in off: %s", name)
    return {"totp_enabled": False}


# --------------------------------------------------------------------------- admin


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64)
    role: str = Field("viewer", max_length=16)
    password: str = Field(max_length=1024)


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str | None = Field(None, max_length=16)
    password: str | None = Field(None, max_length=1024)
    disabled: bool | None = None


@router.get("/api/v1/users")
async def list_users(request: Request, _: Admin) -> dict[str, Any]:
    """Every user (never a hash or secret)."""
    return {"users": [u.public() for u in _accounts(request).users.list()]}


@router.post("/api/v1/users", status_code=201)
async def add_user(request: Request, body: NewUser, principal: Admin) -> dict[str, Any]:
    """Create a user with a password."""
    accounts = _accounts(request)
    _policy(body.name, body.password)
    if accounts.users.get(body.name):
        raise Problem(409, f"there is already a user named {normalize_name(body.name)!r}")
    try:
        user = accounts.users.add(
            body.name, body.role, await accounts.hash(body.password), now=_now(request)
        )
    except UserError as exc:
        raise _user_problem(exc) from None
    log.info("user added: %s (%s) by %s", user.name, user.role, principal.name)
    return user.public()


@router.patch("/api/v1/users/{name}")
async def update_user(
    request: Request, name: str, body: UserPatch, principal: Admin
) -> dict[str, Any]:
    """Change a user's role, password or disabled flag (a new password or disabling ends
    the user's sessions)."""
    accounts = _accounts(request)
    now = _now(request)
    if body.password is not None:
        _policy(name, body.password)
    hashed = await accounts.hash(body.password) if body.password is not None else None
    try:
        user = accounts.users.update(
            name, now=now, role=body.role, disabled=body.disabled, password_hash=hashed
        )
    except UserError as exc:
        raise _user_problem(exc) from None
    if hashed is not None or body.disabled:
        accounts.sessions.revoke_user(user.name, now=now, reason="changed by an admin")
    log.info("user changed: %s by %s", user.name, principal.name)
    return user.public()


@router.delete("/api/v1/users/{name}", status_code=204)
async def remove_user(request: Request, name: str, principal: Admin) -> Response:
    """Remove a user and end their sessions (not the last admin)."""
    accounts = _accounts(request)
    try:
        accounts.users.remove(name)
    except UserError as exc:
        raise _user_problem(exc) from None
    accounts.sessions.revoke_user(normalize_name(name), now=_now(request), reason="user removed")
    log.info("user removed: %s by %s", normalize_name(name), principal.name)
    return Response(status_code=204)


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    role: str = Field("viewer", max_length=16)


@router.get("/api/v1/tokens")
async def list_tokens(request: Request, _: Admin) -> dict[str, Any]:
    """API tokens: ids, names, roles, creation and last use (never the secrets)."""
    tokens = request.app.state.ctx.tokens.list()
    return {
        "tokens": [
            {
                "id": t.id,
                "name": t.name,
                "role": t.role,
                "created_at": t.created_at,
                "last_used_at": t.last_used_at,
            }
            for t in tokens
        ]
    }


@router.post("/api/v1/tokens", status_code=201)
async def create_token(request: Request, body: NewToken, principal: Admin) -> JSONResponse:
    """Create an API token; the answer is the only time it is shown."""
    if body.role not in ROLES:
        raise Problem(400, f"role must be one of {', '.join(ROLES)}, not {body.role!r}")
    try:
        token = request.app.state.ctx.tokens.create(body.name, body.role, now=_now(request))
    except ValueError as exc:
        raise Problem(400, str(exc)) from None
    token_id = token.split("_")[1]
    log.info("API token created: %s (%s, %s) by %s", token_id, body.name, body.role, principal.name)
    return JSONResponse(
        {"id": token_id, "name": body.name.strip(), "role": body.role, "token": token},
        status_code=201,
        headers={"Cache-Control": "no-store"},
    )


@router.delete("/api/v1/tokens/{id}", status_code=204)
async def revoke_token(request: Request, id: str, principal: Admin) -> Response:
    """Revoke an API token at once."""
    if not request.app.state.ctx.tokens.revoke(id):
        raise Problem(404, f"there is no token with id {id!r}")
    log.info("API token revoked: %s by %s", id, principal.name)
    return Response(status_code=204)


@router.post("/api/v1/auth/keys/rotate")
async def rotate_keys(request: Request, principal: Admin) -> dict[str, Any]:
    """A new signing key; access tokens of the previous one stay valid until they expire."""
    kid, until = _accounts(request).keys.rotate(_now(request))
    log.info("signing key rotated by %s", principal.name)
    return {"kid": kid, "previous_valid_until": until}
