"""The ``db_target`` fixture: every store test runs on SQLite and on PostgreSQL.

SQLite: a file in the test's tmp_path. PostgreSQL: a fresh database
``sentra_t_<run id>_<n>`` on 127.0.0.1:5432 (user postgres, trust auth), dropped after the
test. Without a PostgreSQL server the postgres half skips, or FAILS when
``TEST_REQUIRE_POSTGRES=1`` (CI sets it, so the two engines cannot drift unseen).
"""

from __future__ import annotations

import functools
import itertools
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from sentra.store.sql import DbTarget, migrate

ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"
RUN_ID = f"{os.getpid()}_{secrets.token_hex(3)}"
_numbers = itertools.count()


@functools.cache
def _postgres_missing() -> str:
    """Why PostgreSQL cannot be used ("" when it can)."""
    try:
        with psycopg.connect(ADMIN_DSN) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as e:
        return f"no PostgreSQL at 127.0.0.1:5432 as user postgres ({e})".strip()
    return ""


def require_postgres() -> None:
    reason = _postgres_missing()
    if reason:
        if os.environ.get("TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"TEST_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)


@contextmanager
def fresh_postgres() -> Iterator[DbTarget]:
    """A new, empty (not migrated) database, dropped on exit."""
    require_postgres()
    name = f"sentra_t_{RUN_ID}_{next(_numbers)}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield DbTarget.postgres(f"host=127.0.0.1 port=5432 user=postgres dbname={name}")
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_target(engine: str, tmp_path: Path) -> Iterator[DbTarget]:
    """A new, empty (not migrated) database of ``engine`` ("sqlite" or "postgres")."""
    if engine == "sqlite":
        yield DbTarget.sqlite(tmp_path / "sentra.db")
    else:
        with fresh_postgres() as target:
            yield target


@pytest.fixture(params=["sqlite", "postgres"])
def db_engine(request: pytest.FixtureRequest) -> str:
    engine: str = request.param
    return engine


@pytest.fixture
def empty_db_target(db_engine: str, tmp_path: Path) -> Iterator[DbTarget]:
    """A fresh database of each engine, not migrated."""
    with fresh_target(db_engine, tmp_path) as target:
        yield target


@pytest.fixture
def db_target(empty_db_target: DbTarget) -> DbTarget:
    """A fresh database of each engine, migrated to head."""
    migrate(empty_db_target)
    return empty_db_target
