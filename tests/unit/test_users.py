"""Users on a real database (SQLite file and PostgreSQL): argon2 hashes, policy, last-admin
guard, TOTP, sign-in codes, and the refresh-token sessions that live beside them."""

import pyotp
import pytest

from sentra.auth.sessions import RefreshError, SessionStore
from sentra.auth.users import (
    PasswordPolicyError,
    Passwords,
    UserError,
    UserStore,
    check_password,
)
from sentra.store.sql import Db

T0 = 1_800_000_000.0


@pytest.fixture(scope="module")
def passwords():
    return Passwords()  # the real cost: these tests hash only a handful of times


@pytest.fixture
def users(db_target):
    store = UserStore.open(db_target)
    yield store
    store.close()


def test_hash_is_argon2id_and_only_the_right_password_verifies(passwords):
    stored = passwords.hash("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert passwords.verify(stored, "correct horse battery")
    assert not passwords.verify(stored, "correct horse batterY")
    assert not passwords.verify(None, "anything at all")
    assert not passwords.verify("not-a-hash", "anything at all")


def test_database_keeps_the_hash_never_the_password(tmp_path, passwords):
    users = UserStore.open(tmp_path / "db" / "sentra.db")  # a bare path: a SQLite file
    users.add("alice", "viewer", passwords.hash("lavender-tractor-9"), now=T0)
    users.close()
    raw = (tmp_path / "db" / "sentra.db").read_bytes()
    wal = tmp_path / "db" / "sentra.db-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert b"lavender-tractor-9" not in raw and b"$argon2id$" in raw


@pytest.mark.parametrize(
    "name,password,needle",
    [
        ("alice", "short", "at least 10"),
        ("alice", "x" * 1025, "at most"),
        ("alice", "alice-is-great", "user name"),
        ("alice", "Password123", "too common"),
        ("alice", "1234567890", "too common"),
        ("alice", "aaaaaaaaaaaa", "too common"),
        ("alice", "abababababab", "too common"),
    ],
)
def test_password_policy_refuses_weak_passwords(name, password, needle):
    with pytest.raises(PasswordPolicyError, match=needle):
        check_password(name, password)


def test_password_policy_accepts_a_long_unusual_one():
    check_password("alice", "violet tractor in the rain")


def test_names_are_case_insensitive_and_validated(users):
    users.add("Alice", "viewer", None, now=T0)
    assert users.get("ALICE").name == "alice"
    with pytest.raises(UserError) as err:
        users.add("alice", "viewer", None, now=T0)
    assert err.value.status == 409
    for bad in ("", "a b", "-lead", "x" * 65, "semi;colon"):
        with pytest.raises(UserError):
            users.add(bad, "viewer", None, now=T0)
    with pytest.raises(UserError, match="role"):
        users.add("bob", "root", None, now=T0)


def test_the_last_enabled_admin_cannot_be_removed_demoted_or_disabled(users):
    users.add("root", "admin", None, now=T0)
    for change in ({"role": "viewer"}, {"disabled": True}):
        with pytest.raises(UserError, match="last enabled admin") as err:
            users.update("root", now=T0, **change)
        assert err.value.status == 409
    with pytest.raises(UserError, match="last enabled admin"):
        users.remove("root")
    users.add("second", "admin", None, now=T0)
    users.update("root", now=T0, role="operator")
    assert users.get("root").role == "operator"
    with pytest.raises(UserError, match="no user"):
        users.remove("ghost")


def test_totp_setup_enable_and_replay_is_refused(users):
    users.add("alice", "viewer", None, now=T0)
    secret, uri = users.totp_begin("alice")
    assert uri.startswith("otpauth://totp/Sentra:alice?") and f"secret={secret}" in uri
    assert not users.get("alice").totp_enabled  # pending until confirmed
    totp = pyotp.TOTP(secret)
    assert not users.totp_enable("alice", "000000" if totp.at(T0) != "000000" else "111111", now=T0)
    assert users.totp_enable("alice", totp.at(T0), now=T0)
    assert users.get("alice").totp_enabled
    # The code that enabled it, or one of an earlier step, cannot be used again.
    assert not users.totp_check("alice", totp.at(T0), now=T0 + 1)
    assert not users.totp_check("alice", totp.at(T0 - 30), now=T0 + 1)
    nxt = totp.at(T0 + 30)
    assert users.totp_check("alice", nxt, now=T0 + 31)
    assert not users.totp_check("alice", nxt, now=T0 + 32)  # spent
    assert users.totp_check("alice", totp.at(T0 + 90), now=T0 + 60)  # one step of drift
    assert not users.totp_check("alice", totp.at(T0 + 300), now=T0 + 120)  # too far ahead
    with pytest.raises(UserError, match="already on"):
        users.totp_begin("alice")
    users.totp_disable("alice", now=T0)
    assert not users.get("alice").totp_enabled


def test_sign_in_code_works_once_and_expires(users):
    users.add("admin", "admin", None, now=T0)
    code = users.issue_code("admin", now=T0, ttl_s=86400)
    assert len(code) >= 32
    assert users.redeem_code("nope", now=T0) is None
    assert users.redeem_code(code, now=T0 + 1).name == "admin"
    assert users.redeem_code(code, now=T0 + 2) is None
    late = users.issue_code("admin", now=T0, ttl_s=60)
    assert users.redeem_code(late, now=T0 + 60) is None
    raw = users.connection.execute("SELECT hash FROM signin_codes").fetchall()
    assert all(code not in r[0] for r in raw)


@pytest.fixture
def sessions(users):
    return SessionStore(users.connection)


def test_refresh_token_rotates_and_the_old_one_is_spent(sessions):
    session, first = sessions.start("alice", now=T0, ttl_s=3600)
    same, second = sessions.rotate(first, now=T0 + 10)
    assert same.id == session.id and second != first
    third = sessions.rotate(second, now=T0 + 20)[1]
    assert sessions.active(session.id, T0 + 20) is not None
    assert third


def test_reused_refresh_token_revokes_the_whole_session(sessions):
    session, first = sessions.start("alice", now=T0, ttl_s=3600)
    _, second = sessions.rotate(first, now=T0 + 10)
    with pytest.raises(RefreshError) as err:
        sessions.rotate(first, now=T0 + 20)  # the thief (or the victim) replays it
    assert err.value.reused
    assert sessions.active(session.id, T0 + 20) is None
    with pytest.raises(RefreshError) as err:
        sessions.rotate(second, now=T0 + 30)  # the other holder is out too
    assert not err.value.reused and "ended" in err.value.detail


def test_session_ends_at_its_absolute_lifetime(sessions):
    session, token = sessions.start("alice", now=T0, ttl_s=3600)
    _, token = sessions.rotate(token, now=T0 + 3000)
    with pytest.raises(RefreshError, match="expired"):
        sessions.rotate(token, now=T0 + 3600)
    assert sessions.active(session.id, T0 + 3600) is None


def test_revoke_user_ends_every_session_but_the_one_kept(sessions):
    a, _ = sessions.start("alice", now=T0, ttl_s=3600)
    b, tb = sessions.start("alice", now=T0, ttl_s=3600)
    c, _ = sessions.start("bob", now=T0, ttl_s=3600)
    assert sessions.revoke_user("alice", now=T0, reason="password changed", keep=b.id) == 1
    assert sessions.active(a.id, T0) is None
    assert sessions.active(b.id, T0) is not None and sessions.active(c.id, T0) is not None
    assert sessions.session_of(tb) == b.id
    assert sessions.revoke(b.id, now=T0)
    with pytest.raises(RefreshError):
        sessions.rotate(tb, now=T0)


def test_refresh_tokens_are_stored_hashed(sessions, users):
    _, token = sessions.start("alice", now=T0, ttl_s=3600)
    rows = users.connection.execute("SELECT hash FROM refresh_tokens").fetchall()
    assert rows and all(token not in r[0] for r in rows)


def test_prune_forgets_sessions_ended_a_day_ago(sessions, users):
    sessions.start("alice", now=T0, ttl_s=60)
    sessions.start("alice", now=T0, ttl_s=10 * 86400)
    assert sessions.prune(T0 + 2 * 86400) == 1
    count = users.connection.execute("SELECT count(*) FROM refresh_tokens").fetchone()[0]
    assert count == 1


def test_schema_has_no_plain_password_column(users):
    assert isinstance(users.connection, Db)
    users.connection.execute("SELECT password_hash FROM users").fetchall()
    with pytest.raises(Exception, match="password"):
        users.connection.execute("SELECT password FROM users").fetchall()
