"""The SQL adapter: one statement text, both engines."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentra.store.sql import DbTarget, Dialect, IntegrityError, open_db, to_pyformat


def test_placeholders_become_pyformat_and_percent_is_escaped() -> None:
    assert to_pyformat("SELECT a FROM t WHERE b = ? AND c LIKE '5%'") == (
        "SELECT a FROM t WHERE b = %s AND c LIKE '5%%'"
    )
    assert to_pyformat("INSERT INTO t VALUES (?,?,?)") == "INSERT INTO t VALUES (%s,%s,%s)"
    # A question mark inside a quoted literal or identifier is text, not a placeholder.
    assert to_pyformat("SELECT '?', \"a?\" , ? ") == "SELECT '?', \"a?\" , %s "


def test_describe_never_shows_the_password() -> None:
    for dsn in (
        "host=db.example port=6432 user=sentra password=hunter2 dbname=metrics",
        "postgresql://sentra:hunter2@db.example:6432/metrics",
    ):
        target = DbTarget.postgres(dsn)
        assert target.describe() == "postgresql://sentra@db.example:6432/metrics"
        assert "hunter2" not in repr(target)
    assert DbTarget.sqlite(Path("/d/x.db")).describe() == "sqlite:/d/x.db"
    with pytest.raises(ValueError):
        DbTarget.postgres(" ")


def _table(db_target: DbTarget) -> None:
    db = open_db(db_target)
    try:
        db.execute("CREATE TABLE t_sql (k TEXT PRIMARY KEY, v BIGINT NOT NULL, note TEXT)")
    finally:
        db.close()


def test_same_sql_runs_on_both_engines(db_target: DbTarget) -> None:
    _table(db_target)
    db = open_db(db_target)
    try:
        db.executemany(
            "INSERT INTO t_sql(k, v, note) VALUES (?, ?, ?)", [("a", 1, "10%"), ("b", 2, "?")]
        )
        # A literal % with parameters, and without any (sent as it is).
        assert db.execute(
            "SELECT k FROM t_sql WHERE note LIKE '%\\%' ESCAPE '\\' AND v > ?", (0,)
        ).fetchall() == [("a",)]
        assert db.execute("SELECT count(*) FROM t_sql WHERE note LIKE '1%'").fetchone() == (1,)
        assert db.execute("SELECT note FROM t_sql WHERE k = ?", ("b",)).fetchone() == ("?",)
        cur = db.execute("UPDATE t_sql SET v = v + ? WHERE v >= ?", (10, 1))
        assert cur.rowcount == 2
        assert sorted(db.execute("SELECT k, v FROM t_sql")) == [("a", 11), ("b", 12)]
        row = db.execute(
            "INSERT INTO t_sql(k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v"
            " RETURNING v",
            ("a", 5),
        ).fetchone()
        assert row == (5,)
        assert db.dialect is db_target.dialect
    finally:
        db.close()


def test_transaction_commits_or_rolls_back(db_target: DbTarget) -> None:
    _table(db_target)
    db = open_db(db_target)
    other = open_db(db_target)
    try:
        with db.transaction():
            assert db.in_transaction
            db.execute("INSERT INTO t_sql(k, v) VALUES (?, ?)", ("kept", 1))
        assert not db.in_transaction
        with pytest.raises(IntegrityError), db.transaction():
            db.execute("INSERT INTO t_sql(k, v) VALUES (?, ?)", ("lost", 2))
            db.execute("INSERT INTO t_sql(k, v) VALUES (?, ?)", ("kept", 3))  # duplicate key
        assert not db.in_transaction
        with pytest.raises(RuntimeError), db.transaction():
            db.execute("INSERT INTO t_sql(k, v) VALUES (?, ?)", ("lost", 4))
            raise RuntimeError("boom")
        # Seen the same from a second connection: only the committed row exists.
        assert other.execute("SELECT k, v FROM t_sql").fetchall() == [("kept", 1)]
        with pytest.raises(IntegrityError):
            db.execute("INSERT INTO t_sql(k, v) VALUES (?, ?)", ("x", None))
    finally:
        db.close()
        other.close()


def test_readonly_connection_refuses_writes(db_target: DbTarget) -> None:
    _table(db_target)
    db = open_db(db_target, readonly=True)
    try:
        assert db.execute("SELECT count(*) FROM t_sql").fetchone() == (0,)
        with pytest.raises(Exception, match=r"(?i)read.?only"):
            db.execute("INSERT INTO t_sql(k, v) VALUES (?, ?)", ("a", 1))
    finally:
        db.close()


def test_sqlite_connection_is_only_for_sqlite(db_target: DbTarget) -> None:
    db = open_db(db_target)
    try:
        if db_target.dialect is Dialect.SQLITE:
            assert db.sqlite_connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        else:
            with pytest.raises(TypeError):
                _ = db.sqlite_connection
    finally:
        db.close()


def test_connections_opening_a_new_file_at_once_all_succeed(tmp_path: Path) -> None:
    """Switching a new file to WAL can answer "database is locked" at once (SQLite does not
    call the busy handler there) while another connection works on it: the connect waits
    and retries. Four threads race on 200 fresh files (without the retry ~2% of races fail).
    """
    from sentra.store.sql import sqlite_connect
    from tests.concurrency import at_once

    def open_and_write(path: Path) -> None:
        conn = sqlite_connect(path)
        conn.execute("BEGIN IMMEDIATE")  # as a migration does
        conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
        conn.execute("COMMIT")
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()

    errors: list[BaseException] = []
    for n in range(200):
        path = tmp_path / f"{n}.db"
        errors += at_once(lambda path=path: open_and_write(path))
    assert errors == []
