"""API tokens: ``sentra_<id>_<secret>``, stored as SHA-256 of the secret only.

Tokens carry 256 bits of randomness, so a fast hash is the right tool (as for GitHub's
tokens); argon2 is for low-entropy passwords. Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from sentra.store.sql import Db, DbTarget, as_target, open_db

ROLES = ("viewer", "operator", "admin")
_PREFIX = "sentra_"


@dataclass(frozen=True)
class TokenInfo:
    id: str
    name: str
    role: str
    created_at: float
    last_used_at: float | None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def role_allows(role: str, needed: str) -> bool:
    return ROLES.index(role) >= ROLES.index(needed)


class TokenStore:
    def __init__(self, db: DbTarget | Path) -> None:
        self._conn: Db = open_db(as_target(db))
        self._last_touch: dict[str, float] = {}

    def create(self, name: str, role: str, *, now: float | None = None) -> str:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if not name.strip():
            raise ValueError("a token needs a name")
        token_id = secrets.token_hex(4)
        secret = secrets.token_urlsafe(32)
        self._conn.execute(
            "INSERT INTO tokens(id, name, role, secret_hash, created_at) VALUES (?,?,?,?,?)",
            (token_id, name.strip(), role, _hash(secret), now or time.time()),
        )
        return f"{_PREFIX}{token_id}_{secret}"

    def verify(self, token: str) -> TokenInfo | None:
        """The token's record if the token is valid, else None."""
        if not token.startswith(_PREFIX):
            return None
        token_id, sep, secret = token[len(_PREFIX) :].partition("_")
        if not sep or not secret:
            return None
        row = self._conn.execute(
            "SELECT id, name, role, secret_hash, created_at, last_used_at FROM tokens WHERE id = ?",
            (token_id,),
        ).fetchone()
        if row is None or not hmac.compare_digest(row[3], _hash(secret)):
            return None
        now = time.time()
        if now - self._last_touch.get(token_id, 0) > 60:  # at most one write a minute
            self._last_touch[token_id] = now
            self._conn.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", (now, token_id))
        return TokenInfo(row[0], row[1], row[2], row[4], row[5])

    def list(self) -> list[TokenInfo]:
        rows = self._conn.execute(
            "SELECT id, name, role, created_at, last_used_at FROM tokens ORDER BY created_at"
        ).fetchall()
        return [TokenInfo(*r) for r in rows]

    def revoke(self, token_id: str) -> bool:
        return self._conn.execute("DELETE FROM tokens WHERE id = ?", (token_id,)).rowcount > 0

    def count(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM tokens").fetchone()[0])

    def close(self) -> None:
        self._conn.close()
