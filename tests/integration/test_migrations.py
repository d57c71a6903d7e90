"""Schema migrations (Alembic) on both engines: new databases, pre-Alembic SQLite files,
and nodes that start at the same moment."""

from __future__ import annotations

import sqlite3

import pytest

from sentra.store.migrations import ALEMBIC_USER_VERSION, current_revision, head_revision
from sentra.store.sql import DbTarget, migrate, open_db
from sentra.store.sqlite.audit import AuditEntry, AuditStore
from sentra.store.sqlite.schema import MIGRATIONS
from tests.concurrency import at_once
from tests.dbtarget import fresh_postgres

TABLES = {
    "series", "head", "chunks", "rollups", "meta", "tokens", "logs", "spans", "dedupe_log",
    "deadletters", "rollouts", "decisions", "wg_interfaces", "wg_peers", "wg_counters",
    "wg_endpoints", "wg_links", "audit", "users", "auth_sessions", "refresh_tokens",
    "signin_codes",
}  # fmt: skip


def _tables(target: DbTarget) -> set[str]:
    db = open_db(target)
    try:
        if target.dialect == "sqlite":
            sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
        else:
            sql = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        return {r[0] for r in db.execute(sql)} - {"alembic_version"}
    finally:
        db.close()


def _legacy_file(tmp_path, version: int) -> DbTarget:
    """A SQLite file as a Sentra before Alembic left it at ``version``."""
    path = tmp_path / f"legacy{version}.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for step in MIGRATIONS[:version]:
        for statement in step.split(";"):
            if statement.strip():
                conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.close()
    return DbTarget.sqlite(path)


def test_a_new_database_is_brought_to_head_once(empty_db_target):
    assert current_revision(empty_db_target) is None
    migrate(empty_db_target)
    assert current_revision(empty_db_target) == head_revision()
    assert _tables(empty_db_target) == TABLES
    migrate(empty_db_target)  # idempotent
    assert current_revision(empty_db_target) == head_revision()


def test_postgres_gets_its_own_types():
    with fresh_postgres() as target:
        migrate(target)
        db = open_db(target)
        try:
            types, identity = _pg_types(db)
        finally:
            db.close()
    assert types["chunks.data"] == "bytea"
    assert types["chunks.start_ms"] == "bigint"
    assert types["rollups.min"] == "double precision"
    assert types["auth_sessions.user"] == "text"
    assert identity == ("YES",)


def _pg_types(db):
    types = dict(
        db.execute(
            "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'public'"
        ).fetchall()
    )
    identity = db.execute(
        "SELECT is_identity FROM information_schema.columns"
        " WHERE table_name = 'decisions' AND column_name = 'id'"
    ).fetchone()
    return types, identity


def test_a_pre_alembic_file_at_6_is_stamped_without_ddl_and_works(tmp_path):
    target = _legacy_file(tmp_path, len(MIGRATIONS))
    store = AuditStore(target)  # data written by the old version before the upgrade
    store.append([AuditEntry(1.0, "old", "token", "admin", "POST", "/a", 200, "c", "")])
    store.close()
    before = sqlite3.connect(target.path).execute("SELECT sql FROM sqlite_master").fetchall()
    migrate(target)
    conn = sqlite3.connect(target.path)
    assert conn.execute("PRAGMA user_version").fetchone() == (ALEMBIC_USER_VERSION,)
    after = conn.execute("SELECT sql FROM sqlite_master WHERE tbl_name != 'alembic_version'")
    assert sorted(map(str, after.fetchall())) == sorted(map(str, before))  # no DDL ran
    conn.close()
    assert current_revision(target) == head_revision()
    store = AuditStore(target)
    store.append([AuditEntry(2.0, "new", "token", "admin", "POST", "/b", 200, "c", "")])
    assert [e.actor for e in store.query()] == ["new", "old"]
    store.close()


def test_a_pre_alembic_file_at_3_is_upgraded_then_stamped(tmp_path):
    target = _legacy_file(tmp_path, 3)
    assert "audit" not in _tables(target)
    migrate(target)
    assert _tables(target) == TABLES
    assert current_revision(target) == head_revision()


def test_a_file_managed_by_alembic_is_refused_by_a_sentra_from_before(tmp_path):
    """An old binary compares user_version with its list of steps and stops."""
    target = DbTarget.sqlite(tmp_path / "new.db")
    migrate(target)
    (version,) = sqlite3.connect(target.path).execute("PRAGMA user_version").fetchone()
    assert version > len(MIGRATIONS)


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_nodes_starting_at_once_do_not_collide(engine, tmp_path):
    def run(target: DbTarget) -> list[BaseException]:
        return at_once(lambda: migrate(target))

    if engine == "sqlite":
        target = DbTarget.sqlite(tmp_path / "race.db")
        assert run(target) == []
        assert current_revision(target) == head_revision()
        return
    with fresh_postgres() as target:
        assert run(target) == []
        assert current_revision(target) == head_revision()
        assert _tables(target) == TABLES


def test_the_head_constant_is_alembics_head_and_a_current_database_skips_alembic(tmp_path):
    """``migrations.HEAD`` lets a start on a current database skip SQLAlchemy: it must name
    the newest revision, or a new migration would never run."""
    from sentra.store import migrations
    from sentra.store.sql import DbTarget, migrate

    assert migrations.head_revision() == migrations.HEAD
    target = DbTarget.sqlite(tmp_path / "db.sqlite")
    migrate(target)
    assert target.path is not None
    assert _imported_by_migrate(target.path, in_child=False) == "False False"


def test_a_migration_in_a_child_leaves_the_parent_without_sqlalchemy(tmp_path):
    """``sentra up`` migrates in a child process: the node never carries SQLAlchemy."""
    path = tmp_path / "new.sqlite"
    assert _imported_by_migrate(path, in_child=True) == "False False"
    target = DbTarget.sqlite(path)
    assert current_revision(target) == head_revision()
    assert _tables(target) == TABLES


def test_a_child_migration_reports_what_went_wrong(tmp_path):
    path = tmp_path / "not-a-database.sqlite"
    path.write_bytes(b"this is a text file, not SQLite\n" * 200)
    with pytest.raises(sqlite3.DatabaseError, match="not a database"):
        migrate(DbTarget.sqlite(path), in_child=True)


def _imported_by_migrate(path, *, in_child):
    """Whether SQLAlchemy and Alembic are loaded after ``migrate`` in a fresh interpreter."""
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path; from sentra.store.sql import DbTarget, migrate;"
        f"migrate(DbTarget.sqlite(Path({str(path)!r})), in_child={in_child});"
        "print('sqlalchemy' in sys.modules, 'alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_a_child_migration_against_an_unreachable_server_says_so():
    from sentra.store.migrations import MigrationFailed

    target = DbTarget.postgres("host=127.0.0.1 port=1 dbname=x user=u password=hunter2")
    with pytest.raises(MigrationFailed, match="OperationalError") as failed:
        migrate(target, in_child=True)
    assert "hunter2" not in str(failed.value)
    assert "127.0.0.1" in str(failed.value)
