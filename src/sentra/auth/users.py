"""Users: names, roles, argon2id password hashes, optional TOTP, one-time sign-in codes.

Passwords are hashed with argon2id at OWASP's recommended cost (2 passes over 19 MiB, one
lane: ~45 ms here). Hashing and verifying are CPU work the API runs on a worker thread, so
:class:`Passwords` touches no database. A user that does not exist, or has no password yet,
is checked against a dummy hash, so "no such user" costs as long as "wrong password".

TOTP (RFC 6238, 30 s steps, 6 digits, one step of drift either way) through ``pyotp``; a
code is accepted once: the step of the last accepted code is kept and older or equal steps
are refused (no replay within the drift window).

One-time sign-in codes (the link printed at first start) carry 192 bits, are stored as
SHA-256 and are spent atomically by the first request that shows them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from sentra.auth.tokens import ROLES
from sentra.store.sql import Db, DbTarget, IntegrityError, as_target, open_db

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
TOTP_ISSUER = "Sentra"
TOTP_STEP_S = 30
# The most common passwords of ten characters or more (from public breach lists); shorter
# ones are refused by length already. Lower-case; compared after lower-casing.
_COMMON = """
    1234567890 0123456789 0987654321 1111111111 0000000000 1234512345 1122334455
    12345678910 123456789a 123456789q 1q2w3e4r5t 1qaz2wsx3edc 1q2w3e4r5t6y qwertyuiop
    qwerty1234 qwerty12345 qwerty123456 asdfghjkl1 asdfghjkl; zxcvbnm123 qazwsxedc123
    password12 password123 password1234 password12345 password! password01 passw0rd123
    p@ssw0rd123 p@ssword123 passwordpassword mypassword mypassword1 iloveyou12 iloveyou123
    letmein123 letmeinnow welcome123 welcome1234 welcome2024 welcome2025 changeme123
    changeme1234 administrator admin12345 admin123456 adminadmin administrator1 rootroot12
    football12 football123 baseball123 basketball basketball1 superman123 princess123
    sunshine123 starwars123 dragon1234 monkey1234 trustno1234 whatever12 abcdefghij
    abcdefghijk abcd123456 abc1234567 aaaaaaaaaa 1234qwerasdf qwer1234asdf 987654321a
    computer12 internet12 samsung123 google1234 secret1234 default123 temp123456
    sentra1234 sentraadmin sentra12345 letmein1234 master1234 michael123 jennifer12
    """
COMMON_PASSWORDS = frozenset(_COMMON.split())


class PasswordPolicyError(ValueError):
    """A new password that is refused; the message says why."""


class UserError(ValueError):
    """A user operation that cannot be done (unknown name, duplicate, last admin…)."""

    def __init__(self, detail: str, *, status: int = 400) -> None:
        super().__init__(detail)
        self.status = status


def normalize_name(name: str) -> str:
    return name.strip().lower()


def check_name(name: str) -> str:
    norm = normalize_name(name)
    if not NAME_RE.match(norm):
        raise UserError(
            "a user name is 1-64 characters: letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return norm


def check_password(name: str, password: str) -> None:
    """Refuse short, over-long, common or name-derived passwords (NIST SP 800-63B 5.1.1)."""
    if len(password) < MIN_PASSWORD:
        raise PasswordPolicyError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise PasswordPolicyError(f"the password must have at most {MAX_PASSWORD} characters")
    low = password.lower()
    if name and normalize_name(name) in low:
        raise PasswordPolicyError("the password must not contain the user name")
    if low in COMMON_PASSWORDS or len(set(low)) <= 2:
        raise PasswordPolicyError("this password is too common; choose another")


class Passwords:
    """argon2id hashing; no state but the hasher and a dummy hash (thread-safe)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
        self.dummy = self.hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """True when ``password`` matches; ``stored=None`` checks the dummy (always False)."""
        try:
            return bool(self.hasher.verify(stored or self.dummy, password)) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self.hasher.check_needs_rehash(stored)


@dataclass(frozen=True)
class User:
    name: str
    role: str
    disabled: bool
    has_password: bool
    totp_enabled: bool
    created_at: float
    updated_at: float

    def public(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.role,
            "disabled": self.disabled,
            "has_password": self.has_password,
            "totp_enabled": self.totp_enabled,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


_COLS = (
    "name, role, disabled, password_hash IS NOT NULL, totp_secret IS NOT NULL, "
    "created_at, updated_at"
)


def _user(row: tuple[object, ...]) -> User:
    return User(
        str(row[0]),
        str(row[1]),
        bool(row[2]),
        bool(row[3]),
        bool(row[4]),
        float(row[5]),  # type: ignore[arg-type]
        float(row[6]),  # type: ignore[arg-type]
    )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class UserStore:
    """Users in the node's database (tables ``users`` and ``signin_codes``)."""

    def __init__(self, conn: Db) -> None:
        self._conn = conn

    @classmethod
    def open(cls, db: DbTarget | Path) -> UserStore:
        return cls(open_db(as_target(db)))

    @property
    def connection(self) -> Db:
        """The connection, for a SessionStore on the same database."""
        return self._conn

    def close(self) -> None:
        self._conn.close()

    # ------------------------------------------------------------------ reading

    def count(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM users").fetchone()[0])

    def get(self, name: str) -> User | None:
        row = self._conn.execute(
            f"SELECT {_COLS} FROM users WHERE name = ?", (normalize_name(name),)
        ).fetchone()
        return _user(row) if row else None

    def list(self) -> list[User]:
        rows = self._conn.execute(f"SELECT {_COLS} FROM users ORDER BY name").fetchall()
        return [_user(r) for r in rows]

    def password_hash(self, name: str) -> str | None:
        row = self._conn.execute(
            "SELECT password_hash FROM users WHERE name = ?", (normalize_name(name),)
        ).fetchone()
        return row[0] if row else None

    def _enabled_admins(self) -> int:
        return int(
            self._conn.execute(
                "SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0"
            ).fetchone()[0]
        )

    # ------------------------------------------------------------------ writing

    def add(self, name: str, role: str, password_hash: str | None, *, now: float) -> User:
        norm = check_name(name)
        if role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        try:
            self._conn.execute(
                "INSERT INTO users(name, role, password_hash, created_at, updated_at) "
                "VALUES (?,?,?,?,?)",
                (norm, role, password_hash, now, now),
            )
        except IntegrityError:
            raise UserError(f"there is already a user named {norm!r}", status=409) from None
        user = self.get(norm)
        assert user is not None
        return user

    def _require(self, name: str) -> User:
        user = self.get(name)
        if user is None:
            raise UserError(f"there is no user named {normalize_name(name)!r}", status=404)
        return user

    def _keeps_an_admin(self, user: User, *, role: str, disabled: bool) -> None:
        losing = user.role == "admin" and not user.disabled and (role != "admin" or disabled)
        if losing and self._enabled_admins() <= 1:
            raise UserError(
                f"{user.name!r} is the last enabled admin; make another admin first", status=409
            )

    def update(
        self,
        name: str,
        *,
        now: float,
        role: str | None = None,
        disabled: bool | None = None,
        password_hash: str | None = None,
    ) -> User:
        user = self._require(name)
        new_role = user.role if role is None else role
        if new_role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}, not {new_role!r}")
        new_disabled = user.disabled if disabled is None else disabled
        self._keeps_an_admin(user, role=new_role, disabled=new_disabled)
        self._conn.execute(
            "UPDATE users SET role = ?, disabled = ?, updated_at = ?, "
            "password_hash = coalesce(?, password_hash) WHERE name = ?",
            (new_role, int(new_disabled), now, password_hash, user.name),
        )
        return self._require(user.name)

    def remove(self, name: str) -> None:
        user = self._require(name)
        self._keeps_an_admin(user, role="", disabled=True)
        self._conn.execute("DELETE FROM users WHERE name = ?", (user.name,))
        self._conn.execute('DELETE FROM signin_codes WHERE "user" = ?', (user.name,))

    # ------------------------------------------------------------------ TOTP

    def totp_begin(self, name: str) -> tuple[str, str]:
        """A new pending secret and its otpauth:// URI; active only after totp_enable."""
        user = self._require(name)
        if user.totp_enabled:
            raise UserError("two-factor sign-in is already on; turn it off first", status=409)
        secret = pyotp.random_base32()
        self._conn.execute("UPDATE users SET totp_pending = ? WHERE name = ?", (secret, user.name))
        uri = pyotp.TOTP(secret).provisioning_uri(name=user.name, issuer_name=TOTP_ISSUER)
        return secret, uri

    def _matching_step(self, secret: str, code: str, last: int, now: float) -> int | None:
        code = code.strip().replace(" ", "")
        if not (code.isdigit() and len(code) == 6):
            return None
        totp = pyotp.TOTP(secret)
        step = int(now // TOTP_STEP_S)
        found = None
        for candidate in (step - 1, step, step + 1):  # compare all three: no early exit
            expected = totp.at(candidate * TOTP_STEP_S)
            if hmac.compare_digest(expected, code) and candidate > last:
                found = candidate
        return found

    def totp_enable(self, name: str, code: str, *, now: float) -> bool:
        row = self._conn.execute(
            "SELECT totp_pending FROM users WHERE name = ?", (normalize_name(name),)
        ).fetchone()
        if row is None or row[0] is None:
            raise UserError("start with POST /api/v1/auth/totp/setup", status=409)
        step = self._matching_step(row[0], code, 0, now)
        if step is None:
            return False
        self._conn.execute(
            "UPDATE users SET totp_secret = totp_pending, totp_pending = NULL, "
            "totp_last_step = ?, updated_at = ? WHERE name = ?",
            (step, now, normalize_name(name)),
        )
        return True

    def totp_check(self, name: str, code: str, *, now: float) -> bool:
        """Check (and spend) a code of a user with TOTP on."""
        row = self._conn.execute(
            "SELECT totp_secret, totp_last_step FROM users WHERE name = ?",
            (normalize_name(name),),
        ).fetchone()
        if row is None or row[0] is None:
            return False
        step = self._matching_step(row[0], code, int(row[1]), now)
        if step is None:
            return False
        # Spent only if no concurrent request spent this step first.
        cur = self._conn.execute(
            "UPDATE users SET totp_last_step = ? WHERE name = ? AND totp_last_step < ?",
            (step, normalize_name(name), step),
        )
        return cur.rowcount == 1

    def totp_disable(self, name: str, *, now: float) -> None:
        self._conn.execute(
            "UPDATE users SET totp_secret = NULL, totp_pending = NULL, totp_last_step = 0, "
            "updated_at = ? WHERE name = ?",
            (now, normalize_name(name)),
        )

    # ------------------------------------------------------------------ sign-in codes

    def issue_code(self, name: str, *, now: float, ttl_s: float) -> str:
        """A one-time sign-in code for ``name`` (printed once; only its hash is kept)."""
        user = self._require(name)
        code = secrets.token_urlsafe(24)
        self._conn.execute("DELETE FROM signin_codes WHERE expires_at <= ?", (now,))
        self._conn.execute(
            'INSERT INTO signin_codes(hash, "user", created_at, expires_at) VALUES (?,?,?,?)',
            (_sha256(code), user.name, now, now + ttl_s),
        )
        return code

    def redeem_code(self, code: str, *, now: float) -> User | None:
        """The user of a valid unspent code, spending it; None for any other code."""
        if not code or len(code) > 200:
            return None
        digest = _sha256(code)
        cur = self._conn.execute(
            "UPDATE signin_codes SET used_at = ? WHERE hash = ? AND used_at IS NULL "
            'AND expires_at > ? RETURNING "user"',
            (now, digest, now),
        )
        row = cur.fetchone()
        cur.close()
        return self.get(row[0]) if row else None
