"""Access tokens: short-lived JWTs (HS256) signed with keys kept in ``state/jwt.key`` (0600).

The key file holds every key still in use, newest first, each with a ``kid`` that the
token's header names. :meth:`KeyRing.rotate` makes a new key current; the previous one
keeps verifying until the last token it signed has expired (``retired_at + access TTL``)
and is then dropped. Only HS256 is accepted: ``alg: none``, RS/ES algorithms (the
classic key-confusion attack) and unknown ``kid`` values are refused before any claim is
read. Time is a parameter: ``now`` comes from the caller.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import math
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import msgspec

from sentra.state.atomic import write_bytes_atomic

log = logging.getLogger(__name__)
ALGORITHM = "HS256"
ISSUER = "sentra"
AUDIENCE = "sentra-api"
KEY_BYTES = 32  # 256 bits, the HS256 minimum of RFC 7518 section 3.2
_REQUIRED = ("exp", "iat", "sub", "sid", "role", "typ", "iss", "aud")


class TokenError(Exception):
    """An access token that is refused; ``expired`` tells the caller it may refresh."""

    def __init__(self, detail: str, *, expired: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.expired = expired


class _Key(msgspec.Struct):
    kid: str
    secret: str  # base64url, no padding
    created_at: float
    retired_at: float | None = None

    def raw(self) -> bytes:
        return base64.urlsafe_b64decode(self.secret + "=" * (-len(self.secret) % 4))


class _KeyFile(msgspec.Struct):
    keys: list[_Key]


@dataclass(frozen=True)
class AccessClaims:
    sub: str
    role: str
    sid: str
    iat: float
    exp: float
    kid: str


def _new_key(now: float) -> _Key:
    secret = base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).rstrip(b"=").decode()
    return _Key(kid=secrets.token_hex(6), secret=secret, created_at=now)


class KeyRing:
    """The signing keys of this node; ``access_ttl_s`` bounds how long a retired key lives."""

    def __init__(self, path: Path, *, access_ttl_s: float, now: float) -> None:
        self.path = path
        self.access_ttl_s = access_ttl_s
        self._keys = self._load(now)

    # ------------------------------------------------------------------ the file

    def _load(self, now: float) -> list[_Key]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            keys = [_new_key(now)]
            self._save(keys)
            log.info("created the token-signing key %s", self.path)
            return keys
        self._tighten_mode()
        try:
            keys = msgspec.json.decode(data, type=_KeyFile).keys
            if not keys or any(len(k.raw()) < KEY_BYTES for k in keys):
                raise ValueError("no usable key")
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            # A new key signs everyone out; refusing to start would lock everyone out.
            log.warning(
                "the signing key file %s is damaged (%s); a new key is made", self.path, exc
            )
            keys = [_new_key(now)]
            self._save(keys)
            return keys
        kept = self._prune(keys, now)
        if len(kept) != len(keys):
            self._save(kept)
        return kept

    def _tighten_mode(self) -> None:
        mode = stat.S_IMODE(self.path.stat().st_mode)
        if mode & 0o077:
            log.warning("%s was readable by others (mode %o); set to 0600", self.path, mode)
            with contextlib.suppress(OSError):
                os.chmod(self.path, 0o600)

    def _save(self, keys: list[_Key]) -> None:
        write_bytes_atomic(
            self.path, msgspec.json.format(msgspec.json.encode(_KeyFile(keys))), mode=0o600
        )

    def _prune(self, keys: list[_Key], now: float) -> list[_Key]:
        return [k for k in keys if k.retired_at is None or now < k.retired_at + self.access_ttl_s]

    # ------------------------------------------------------------------ keys

    @property
    def current_kid(self) -> str:
        return self._keys[0].kid

    @property
    def kids(self) -> list[str]:
        return [k.kid for k in self._keys]

    def rotate(self, now: float) -> tuple[str, float]:
        """A new current key; returns its kid and until when the previous one verifies."""
        keys = self._prune(self._keys, now)
        for key in keys:
            if key.retired_at is None:
                key.retired_at = now
        keys.insert(0, _new_key(now))
        self._save(keys)
        self._keys = keys
        log.info("rotated the token-signing key; the new kid is %s", keys[0].kid)
        return keys[0].kid, now + self.access_ttl_s

    # ------------------------------------------------------------------ tokens

    def issue(
        self, *, sub: str, role: str, sid: str, now: float, ttl_s: float | None = None
    ) -> tuple[str, float]:
        """A signed access token and its expiry (epoch seconds)."""
        key = self._keys[0]
        exp = math.ceil(now + (ttl_s if ttl_s is not None else self.access_ttl_s))
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": sub,
            "role": role,  # informational: the node reads the user's role at every request
            "sid": sid,
            "typ": "access",
            "iat": int(now),
            "exp": exp,
            "jti": secrets.token_hex(8),
        }
        token = jwt.encode(claims, key.raw(), algorithm=ALGORITHM, headers={"kid": key.kid})
        return token, float(exp)

    def verify(self, token: str, now: float) -> AccessClaims:
        """The claims of a valid token; raise TokenError otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenError("the access token is malformed") from None
        if header.get("alg") != ALGORITHM:
            raise TokenError(f"the access token must be signed with {ALGORITHM}")
        kid = header.get("kid")
        key = next((k for k in self._keys if k.kid == kid), None) if isinstance(kid, str) else None
        if key is None or (
            key.retired_at is not None and now >= key.retired_at + self.access_ttl_s
        ):
            raise TokenError("the access token was signed with a key this node does not hold")
        try:
            claims = jwt.decode(
                token,
                key.raw(),
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                # Time is checked below against the caller's clock.
                options={"require": list(_REQUIRED), "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            raise TokenError("the access token's signature or claims are not valid") from None
        exp, iat = claims["exp"], claims["iat"]
        if not all(isinstance(v, int | float) for v in (exp, iat)) or claims["typ"] != "access":
            raise TokenError("the access token's claims are not valid")
        if now >= exp:
            raise TokenError(
                "the access token has expired: refresh it (POST /api/v1/auth/refresh) or sign in",
                expired=True,
            )
        if not all(isinstance(claims[c], str) for c in ("sub", "sid", "role")):
            raise TokenError("the access token's claims are not valid")
        return AccessClaims(claims["sub"], claims["role"], claims["sid"], iat, exp, key.kid)
