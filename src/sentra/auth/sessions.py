"""Sign-in sessions and their refresh tokens (the ``sentra_refresh`` cookie).

A session (``auth_sessions``) is one sign-in of one user: it lives ``refresh TTL`` from the
sign-in at most and its id is the ``sid`` claim of every access token issued under it, so
revoking a session ends its access tokens at once (the API checks the session at each
request). Refresh tokens are 256-bit random strings stored as SHA-256 (``refresh_tokens``)
and rotate on every use: each use spends the token and returns a new one. Showing a spent
token again means two parties hold the same token (one stole it), so the whole session is
revoked: the thief and the victim both have to sign in again (OAuth 2.0 Security BCP,
refresh token rotation with reuse detection).

Sessions are revoked on sign-out, password change, user removal or disabling.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sentra.store.sql import Db


class RefreshError(Exception):
    """A refresh that is refused; ``reused`` when a spent token was shown (theft)."""

    def __init__(self, detail: str, *, reused: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.reused = reused


@dataclass(frozen=True)
class Session:
    id: str
    user: str
    created_at: float
    expires_at: float


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    def __init__(self, conn: Db) -> None:
        self._conn = conn

    def _new_refresh(self, session_id: str, now: float) -> str:
        token = secrets.token_urlsafe(32)
        self._conn.execute(
            "INSERT INTO refresh_tokens(hash, session_id, issued_at) VALUES (?,?,?)",
            (_hash(token), session_id, now),
        )
        return token

    def start(self, user: str, *, now: float, ttl_s: float) -> tuple[Session, str]:
        """A new session for ``user`` and its first refresh token."""
        session = Session(secrets.token_hex(12), user, now, now + ttl_s)
        with self._conn.transaction():
            self._conn.execute(
                'INSERT INTO auth_sessions(id, "user", created_at, expires_at) VALUES (?,?,?,?)',
                (session.id, user, now, session.expires_at),
            )
            token = self._new_refresh(session.id, now)
        return session, token

    def active(self, session_id: str, now: float) -> Session | None:
        """The session if it is neither revoked nor past its end."""
        row = self._conn.execute(
            'SELECT id, "user", created_at, expires_at FROM auth_sessions '
            "WHERE id = ? AND revoked_at IS NULL AND expires_at > ?",
            (session_id, now),
        ).fetchone()
        return Session(*row) if row else None

    def rotate(self, token: str, *, now: float) -> tuple[Session, str]:
        """Spend ``token`` and return its session with the next refresh token."""
        if not token or len(token) > 200:
            raise RefreshError("there is no valid refresh cookie: sign in again")
        with self._conn.transaction():
            row = self._conn.execute(
                'SELECT r.used_at, s.id, s."user", s.created_at, s.expires_at, s.revoked_at '
                "FROM refresh_tokens r JOIN auth_sessions s ON s.id = r.session_id "
                "WHERE r.hash = ?",
                (_hash(token),),
            ).fetchone()
            if row is None:
                raise RefreshError("the refresh cookie is not valid (signed out or expired)")
            used_at, sid, user, created, expires, revoked = row
            if revoked is not None:
                raise RefreshError("this sign-in has ended: sign in again")
            reused = used_at is not None
            if reused:
                self._revoke(sid, now, "refresh token reused")  # committed, then refused
            elif expires <= now:
                raise RefreshError("this sign-in has expired: sign in again")
            else:
                self._conn.execute(
                    "UPDATE refresh_tokens SET used_at = ? WHERE hash = ?", (now, _hash(token))
                )
                new = self._new_refresh(sid, now)
        if reused:
            raise RefreshError(
                "this refresh token was already used, so the sign-in was ended as a "
                "precaution (it may have been copied): sign in again",
                reused=True,
            )
        return Session(sid, user, created, expires), new

    def _revoke(self, session_id: str, now: float, reason: str) -> int:
        return self._conn.execute(
            "UPDATE auth_sessions SET revoked_at = ?, revoke_reason = ? "
            "WHERE id = ? AND revoked_at IS NULL",
            (now, reason, session_id),
        ).rowcount

    def revoke(self, session_id: str, *, now: float, reason: str = "signed out") -> bool:
        return self._revoke(session_id, now, reason) > 0

    def session_of(self, token: str) -> str | None:
        """The session id a refresh token belongs to (spent or not)."""
        row = self._conn.execute(
            "SELECT session_id FROM refresh_tokens WHERE hash = ?", (_hash(token),)
        ).fetchone()
        return str(row[0]) if row else None

    def revoke_user(self, user: str, *, now: float, reason: str, keep: str | None = None) -> int:
        """Revoke every session of ``user`` (but ``keep``); returns how many."""
        sql = (
            "UPDATE auth_sessions SET revoked_at = ?, revoke_reason = ? "
            'WHERE "user" = ? AND revoked_at IS NULL'
        )
        args: tuple[object, ...] = (now, reason, user)
        if keep is not None:
            sql, args = sql + " AND id <> ?", (*args, keep)
        return self._conn.execute(sql, args).rowcount

    def prune(self, now: float) -> int:
        """Forget sessions that ended more than a day ago, and their refresh tokens."""
        cutoff = now - 86400
        self._conn.execute(
            "DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM auth_sessions "
            "WHERE expires_at < ? OR revoked_at < ?)",
            (cutoff, cutoff),
        )
        return self._conn.execute(
            "DELETE FROM auth_sessions WHERE expires_at < ? OR revoked_at < ?", (cutoff, cutoff)
        ).rowcount
