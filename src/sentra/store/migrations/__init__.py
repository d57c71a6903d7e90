"""Schema migrations of both engines, with Alembic, driven from code (no alembic.ini).

:func:`upgrade` (what ``sentra.store.sql.migrate`` runs) brings a database to head:

* it works in ONE transaction that first takes the database's migration lock: SQLite
  ``BEGIN IMMEDIATE`` (the write lock), PostgreSQL ``pg_advisory_xact_lock`` — so nodes and
  CLI commands that start at once queue, and the later ones find the schema at head;
* a SQLite file made before Alembic (``PRAGMA user_version`` 1 to 6, see
  ``sentra.store.sqlite.schema.MIGRATIONS``) is first brought to 6 by those legacy steps and
  then *stamped* at the baseline revision (its tables are exactly the baseline's), so no
  DDL runs on it; a new database runs the baseline;
* an Alembic-managed SQLite file carries ``user_version`` = :data:`ALEMBIC_USER_VERSION`,
  so a Sentra from before Alembic refuses it ("newer than this Sentra understands")
  instead of writing to a schema it does not know.

Adding a migration: create ``versions/rNNNN_what.py`` (copy the header of the newest one;
``revision = "rNNNN_what"``, ``down_revision`` = the newest revision's id) with an
``upgrade()`` made of ``op.*`` calls, or of ``op.execute`` with SQL chosen by
``op.get_bind().dialect.name`` ("sqlite" / "postgresql") where the engines differ.
Migrations only go forward. The next start of any node or CLI command applies it; both
engines are exercised by ``tests/integration/test_migrations.py``.
"""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentra.store.sql import DatabaseUnavailable, DbTarget, Dialect, pg_connect, sqlite_connect

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import Connection, Engine

BASELINE = "r0001_baseline"
# The legacy steps end at 6; one more marks a file whose schema Alembic now owns.
ALEMBIC_USER_VERSION = 7
# pg_advisory_xact_lock key for schema changes (any constant shared by all Sentra nodes).
PG_LOCK_KEY = 0x5E17_0A_3160


# The newest revision; tests/integration/test_migrations.py keeps it equal to Alembic's
# head. Knowing it lets a start whose database is current skip SQLAlchemy and Alembic
# altogether (their import alone costs ~0.3 s and ~25 MB of memory).
HEAD = "r0002_pg_head_index"
# How long ``sentra up`` waits for the child process that migrates (upgrade(in_child=True)).
CHILD_TIMEOUT_S = 600.0


def _qualified(kind: type[BaseException]) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


# Errors a migrating child reports that the parent raises as themselves, by qualified name.
_AS_THEMSELVES: dict[str, type[Exception]] = {
    _qualified(k): k
    for k in (DatabaseUnavailable, sqlite3.OperationalError, sqlite3.DatabaseError, ValueError)
}


def upgrade(target: DbTarget, revision: str = "head", *, in_child: bool = False) -> None:
    """Bring the schema at ``target`` to ``revision``; a no-op when it is there already.

    ``in_child``: run the migration in a short-lived child process (what ``sentra up`` does),
    so that a long-running node never carries SQLAlchemy and Alembic (~25 MB of memory once
    imported; a node whose database is current does not import them at all)."""
    if revision == "head" and _stored_revision(target) == HEAD:
        return
    if in_child:
        _upgrade_in_child(target, revision)
        return
    from sqlalchemy import event

    engine = _engine(target)
    if target.dialect is Dialect.SQLITE:
        # pysqlite leaves BEGIN to the driver, which runs in autocommit mode here: take
        # the write lock ourselves so two starting processes queue.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    try:
        with engine.connect() as conn, conn.begin():
            _upgrade_locked(conn, target, revision)
    finally:
        engine.dispose()


class MigrationFailed(RuntimeError):
    """The child process that migrated the database failed; the message says why."""


def _upgrade_in_child(target: DbTarget, revision: str) -> None:
    """``upgrade`` in a spawned child; its error comes back as itself where it is one of
    ``_AS_THEMSELVES``, else as MigrationFailed naming the database and the error. The
    target (DSN included) travels through the multiprocessing pipe, never in argv."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(
        target=_child_main, args=(target, revision, child), name="sentra-migrate", daemon=True
    )
    proc.start()
    child.close()
    try:
        outcome = parent.recv() if parent.poll(CHILD_TIMEOUT_S) else ("timeout", "", "")
    except EOFError:  # the child died without a word (killed, out of memory)
        outcome = ("died", "", "")
    finally:
        parent.close()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
    kind, name, message = outcome
    if kind == "ok":
        return
    if kind == "timeout":
        raise MigrationFailed(f"migrating {target.describe()} took over {CHILD_TIMEOUT_S:.0f} s")
    if kind == "died":
        raise MigrationFailed(
            f"the migration of {target.describe()} stopped (exit code {proc.exitcode})"
        )
    known = _AS_THEMSELVES.get(name)
    if known is not None:
        raise known(message)
    raise MigrationFailed(
        f"migrating {target.describe()} failed: {name.rpartition('.')[2]}: {message}"
    )


def _child_main(target: DbTarget, revision: str, out: Any) -> None:
    try:
        upgrade(target, revision)
    except BaseException as exc:  # everything goes back to the parent as text
        # SQLAlchemy wraps the driver's error: report the driver's own.
        orig = getattr(exc, "orig", None)
        err = orig if isinstance(orig, BaseException) else exc
        out.send(("error", _qualified(type(err)), str(err)))
    else:
        out.send(("ok", "", ""))
    finally:
        out.close()


def _stored_revision(target: DbTarget) -> str | None:
    """The revision in ``alembic_version``, read with the plain driver (None: none yet)."""
    try:
        if target.dialect is Dialect.SQLITE:
            assert target.path is not None
            if not target.path.exists():
                return None
            conn = sqlite_connect(target.path, readonly=True)
            try:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            finally:
                conn.close()
        else:
            with pg_connect(target.dsn) as pg:
                row = pg.execute("SELECT version_num FROM alembic_version").fetchone()
    except Exception:  # no such table, or no database yet: the full path finds out
        return None
    return str(row[0]) if row else None


def current_revision(target: DbTarget) -> str | None:
    """The revision a database is at (None: not under Alembic yet), for `sentra doctor`."""
    from alembic.runtime.migration import MigrationContext

    engine = _engine(target)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str:
    head = _script().get_current_head()
    assert head is not None
    return head


def _upgrade_locked(conn: Connection, target: DbTarget, revision: str) -> None:
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    if target.dialect is Dialect.POSTGRES:
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_LOCK_KEY})")
    current = MigrationContext.configure(conn).get_current_revision()
    heads = _script().get_revisions(revision)
    if current is not None and {r.revision for r in heads if r} == {current}:
        return
    config = _config(conn)
    if current is None and target.dialect is Dialect.SQLITE:
        from sentra.store.sqlite.schema import MIGRATIONS, legacy_upgrade

        dbapi = conn.connection.dbapi_connection
        assert isinstance(dbapi, sqlite3.Connection)
        if legacy_upgrade(dbapi) == len(MIGRATIONS):
            command.stamp(config, BASELINE)
    command.upgrade(config, revision)
    if target.dialect is Dialect.SQLITE:
        conn.exec_driver_sql(f"PRAGMA user_version = {ALEMBIC_USER_VERSION}")


def _engine(target: DbTarget) -> Engine:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    if target.dialect is Dialect.SQLITE:
        path = target.path
        assert path is not None
        return create_engine("sqlite://", creator=lambda: sqlite_connect(path), poolclass=NullPool)

    def connect() -> Any:
        conn = pg_connect(target.dsn)
        conn.autocommit = False  # SQLAlchemy drives the transaction
        return conn

    return create_engine("postgresql+psycopg://", creator=connect, poolclass=NullPool)


def _config(conn: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = conn
    return config


@functools.cache
def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(Path(__file__).parent))
