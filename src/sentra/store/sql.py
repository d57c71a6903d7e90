"""One small adapter over the two SQL engines Sentra stores its data in.

Every store writes its SQL once, with ``?`` placeholders, against :class:`Db`; the
embedded default is a SQLite file under the data dir, the scale-out choice is PostgreSQL
(``psycopg`` 3). The adapter hides only what differs mechanically between the two drivers:

* placeholders: for PostgreSQL ``?`` becomes ``%s`` and a literal ``%`` becomes ``%%``
  (rewritten once per statement string and cached); ``?`` inside a quoted literal is left;
* transactions: both connections run in autocommit mode (sqlite3 ``isolation_level=None``,
  psycopg ``autocommit=True``) and :meth:`Db.transaction` opens an explicit one
  (SQLite ``BEGIN IMMEDIATE`` so writers queue on the lock instead of failing on upgrade);
* integrity violations of either engine are raised as :class:`IntegrityError`;
* PostgreSQL connections that the server closed (a restart, a failover, an idle timeout in
  a pooler, ``pg_terminate_backend``) are replaced on the next call, see
  :class:`DatabaseUnavailable`.

What differs in the SQL itself (``min(a, b)`` vs ``LEAST(a, b)``, PRAGMAs, ``LIKE`` case
rules) is chosen by ``db.dialect`` in the store that needs it. ``INSERT ... ON CONFLICT``
and ``RETURNING`` work on both engines and are used instead of ``INSERT OR ...`` and
``lastrowid``. A PostgreSQL transaction that hit an error is aborted until rolled back, so
a store must not catch :class:`IntegrityError` and carry on inside the same transaction.

psycopg is imported only when a PostgreSQL target is used: a SQLite node never loads it.
"""

from __future__ import annotations

import enum
import functools
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sentra.backoff import Backoff

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)
T = TypeVar("T")
RECONNECT_INTERVAL_S = 0.5  # at most one connection attempt per DSN this often while it fails
CONNECT_TIMEOUT_S = 5  # libpq's connect_timeout when the DSN names none (libpq waits forever)


class Dialect(enum.StrEnum):
    SQLITE = "sqlite"
    POSTGRES = "postgres"


class IntegrityError(Exception):
    """A constraint (unique, primary key, not null) refused a write, on either engine."""


# How often a commit whose answer was lost is looked up, 50 ms apart (Db.transaction).
COMMIT_STATUS_TRIES = 20


class DatabaseUnavailable(Exception):
    """PostgreSQL cannot be used right now: the server closed the connection or refuses new
    ones. The message says what a person needs to know; the remedy is to retry shortly.

    What the adapter does around it (:class:`Db`): a statement outside a transaction that
    meets a closed connection is run once more on a fresh one; inside a transaction it is
    never retried (the server has rolled the transaction back), this is raised instead and
    the transaction counts as open until the caller ends it (``ROLLBACK`` is then a no-op,
    ``COMMIT`` raises this again); the next statement after that reconnects. While the
    server refuses connections, every :class:`Db` on the DSN fails fast with this between
    attempts (one per ``RECONNECT_INTERVAL_S``). The API answers it with a 503.

    The retry outside a transaction is safe for reads and idempotent writes (upserts, the
    stores' single-row updates); a write whose answer was lost with the connection may run
    twice, so a write that must happen exactly once belongs in :meth:`Db.transaction`."""


class Cursor(Protocol):
    """What stores may use of a cursor: the part sqlite3 and psycopg share."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class DbTarget:
    """Where the database is. The DSN may hold a password: it is kept out of ``repr``
    and :meth:`describe`, which is what logs and error messages show."""

    dialect: Dialect
    path: Path | None = None
    dsn: str = field(default="", repr=False)

    @classmethod
    def sqlite(cls, path: Path) -> DbTarget:
        return cls(Dialect.SQLITE, path=Path(path))

    @classmethod
    def postgres(cls, dsn: str) -> DbTarget:
        if not dsn.strip():
            raise ValueError("a PostgreSQL target needs a DSN (conninfo or postgresql:// URL)")
        return cls(Dialect.POSTGRES, dsn=dsn)

    def describe(self) -> str:
        """A one-line name for logs; never includes a password."""
        if self.dialect is Dialect.SQLITE:
            return f"sqlite:{self.path}"
        from psycopg.conninfo import conninfo_to_dict

        try:
            params = conninfo_to_dict(self.dsn)
        except Exception:
            return "postgresql (unparsable DSN)"
        user = str(params.get("user") or "")
        host = str(params.get("host") or params.get("hostaddr") or "localhost")
        port = str(params.get("port") or "5432")
        dbname = str(params.get("dbname") or user or "")
        return f"postgresql://{user + '@' if user else ''}{host}:{port}/{dbname}"


def to_pyformat(sql: str) -> str:
    """``?`` placeholders → ``%s``, literal ``%`` → ``%%``; quoted text keeps its ``?``."""
    out: list[str] = []
    quote = ""
    for ch in sql:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "?":
            out.append("%s")
            continue
        out.append("%%" if ch == "%" else ch)
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def _pyformat(sql: str) -> bytes:
    return to_pyformat(sql).encode()


@functools.lru_cache(maxsize=1024)
def _plain(sql: str) -> bytes:
    return sql.encode()


class Db:
    """One connection to either engine. Use from one thread at a time (callers that share
    a Db between threads hold their own lock, as the stores always did); replacing a
    closed PostgreSQL connection is safe from several threads all the same."""

    def __init__(self, target: DbTarget, *, readonly: bool = False) -> None:
        self.target = target
        self.dialect = target.dialect
        self.readonly = readonly
        self._sqlite: sqlite3.Connection | None = None
        self._pg: psycopg.Connection[Any] | None = None
        self._pg_integrity: type[Exception] = IntegrityError
        self._pg_operational: type[Exception] = IntegrityError
        self._lost_tx = False  # the server dropped the connection inside a transaction
        self._closed = False  # closed here (close()): never reopened
        self._swap = threading.Lock()
        if target.dialect is Dialect.SQLITE:
            assert target.path is not None
            self._sqlite = sqlite_connect(target.path, readonly=readonly)
        else:
            import psycopg

            self._pg_integrity = psycopg.IntegrityError
            self._pg_operational = psycopg.OperationalError
            self._pg = _gate(target).connect(readonly=readonly)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        if self._sqlite is not None:
            try:
                return self._sqlite.execute(sql, params)
            except sqlite3.IntegrityError as e:
                raise IntegrityError(str(e)) from e
        if not params:  # psycopg sends a query without parameters as it is
            plain = _plain(sql)
            return self._pg_run(sql, lambda conn: conn.execute(plain))
        query = _pyformat(sql)
        return self._pg_run(sql, lambda conn: conn.execute(query, params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        if self._sqlite is not None:
            try:
                self._sqlite.executemany(sql, rows)
            except sqlite3.IntegrityError as e:
                raise IntegrityError(str(e)) from e
            return
        query = _pyformat(sql)
        batch = rows if isinstance(rows, Sequence) else list(rows)  # a retry reads it again

        def run(conn: psycopg.Connection[Any]) -> None:
            with conn.cursor() as cur:
                cur.executemany(query, batch)

        self._pg_run(sql, run)

    def _pg_run(self, sql: str, op: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run ``op`` on a live connection; a closed connection is replaced, and ``op`` is
        run once more on the new one unless a transaction was open (see
        :class:`DatabaseUnavailable`)."""
        verb = _verb(sql)
        if self._lost_tx and verb not in ("BEGIN", "START"):  # a new transaction: carry on
            return self._after_lost_transaction(verb)  # type: ignore[return-value]
        self._lost_tx = False
        for attempt in (1, 2):
            conn = self._pg_live()
            inside = _in_transaction(conn)
            try:
                return op(conn)
            except self._pg_integrity as e:
                raise IntegrityError(str(e)) from e
            except self._pg_operational as e:
                if not conn.closed:
                    raise  # the statement failed (a lock timeout, a cancel): not the link
                if inside and verb == "ROLLBACK":
                    return _NoRows()  # type: ignore[return-value]  # the server rolled back
                if inside:
                    # Still open for its owner until it ends it, unless this ended it.
                    self._lost_tx = verb not in ("COMMIT", "END")
                    raise DatabaseUnavailable(self._lost_message(verb, e)) from e
                if attempt == 2:
                    raise DatabaseUnavailable(
                        f"the database {self.target.describe()} closed the connection again "
                        f"right after it was reopened ({_first_line(e)}); retry in a moment"
                    ) from e
                log.warning(
                    "the connection to %s was closed (%s); reconnecting",
                    self.target.describe(),
                    _first_line(e),
                )
        raise AssertionError("unreachable")

    def _lost_message(self, verb: str, exc: Exception) -> str:
        where = f"the database {self.target.describe()}"
        if verb in ("COMMIT", "END"):
            return (
                f"the connection to {where} was lost while committing ({_first_line(exc)}): "
                "the transaction may or may not have been stored; retry in a moment"
            )
        return (
            f"the connection to {where} was lost inside a transaction ({_first_line(exc)}): "
            "the database rolled it back, nothing of it was stored; retry in a moment"
        )

    def _after_lost_transaction(self, verb: str) -> Cursor:
        """The caller still acts in a transaction the server has rolled back: ending it is
        fine (ROLLBACK: nothing to do); anything else in it is refused."""
        if verb == "ROLLBACK":
            self._lost_tx = False
            return _NoRows()
        if verb in ("COMMIT", "END"):
            self._lost_tx = False
        raise DatabaseUnavailable(
            f"the connection to the database {self.target.describe()} was lost inside this "
            "transaction: the database rolled it back, nothing of it was stored; retry"
        )

    def _pg_live(self) -> psycopg.Connection[Any]:
        """The connection, replaced first when the server has closed it."""
        conn = self._pg
        if conn is not None and not conn.closed:
            return conn
        with self._swap:
            current = self._pg
            if current is not None and not current.closed:
                return current  # another thread has replaced it meanwhile
            if self._closed:
                raise DatabaseUnavailable(
                    f"the connection to the database {self.target.describe()} was closed "
                    "because this process is stopping"
                )
            fresh = _gate(self.target).connect(readonly=self.readonly)
            self._pg = fresh
        if current is not None:
            current.close()  # already closed by the server: frees what psycopg holds
        return fresh

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit on success, roll back on any exception (re-raised).

        PostgreSQL: when the connection is lost during COMMIT, whether the transaction was
        stored is asked of the server once it answers again (``txid_status`` of the
        transaction's id, taken after BEGIN): stored, the block simply returns; not stored,
        DatabaseUnavailable says so; only when the server cannot tell (it stays away) does
        DatabaseUnavailable say "may or may not". So a caller never retries a batch that
        was in fact committed because its answer went missing."""
        self.execute("BEGIN IMMEDIATE" if self._sqlite is not None else "BEGIN")
        xid: int | None = None
        try:
            if self._pg is not None and not self.readonly:
                xid = int(self.execute("SELECT txid_current()").fetchone()[0])
            yield
        except BaseException:
            if self.in_transaction:
                self.execute("ROLLBACK")
            raise
        try:
            self.execute("COMMIT")
        except DatabaseUnavailable:
            outcome = self._commit_outcome(xid) if xid is not None else None
            if outcome == "committed":
                log.warning(
                    "the connection to %s was lost while committing; the server confirms "
                    "the transaction was stored",
                    self.target.describe(),
                )
                return
            if outcome == "aborted":
                raise DatabaseUnavailable(
                    f"the connection to the database {self.target.describe()} was lost while "
                    "committing and the transaction was not stored; retry in a moment"
                ) from None
            raise

    def _commit_outcome(self, xid: int) -> str | None:
        """``committed``, ``aborted``, or None when the server cannot say now."""
        for _ in range(COMMIT_STATUS_TRIES):
            try:
                row = self.execute("SELECT txid_status(?)", (xid,)).fetchone()
            except DatabaseUnavailable:
                return None
            status = row[0] if row else None
            if status in ("committed", "aborted"):
                return str(status)
            time.sleep(0.05)  # "in progress": the old backend has not finished ending yet
        return None

    @property
    def in_transaction(self) -> bool:
        if self._sqlite is not None:
            return self._sqlite.in_transaction
        return self._lost_tx or (self._pg is not None and _in_transaction(self._pg))

    @property
    def sqlite_connection(self) -> sqlite3.Connection:
        """The raw sqlite3 connection, for the few SQLite-only operations (backup API)."""
        if self._sqlite is None:
            raise TypeError(f"{self.target.describe()} is not a SQLite database")
        return self._sqlite

    def close(self) -> None:
        self._closed = True
        if self._sqlite is not None:
            self._sqlite.close()
        if self._pg is not None:
            self._pg.close()


class _NoRows:
    """The cursor of a statement that had nothing to do (ending a lost transaction)."""

    rowcount = -1

    def fetchone(self) -> Any:
        return None

    def fetchall(self) -> list[Any]:
        return []

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def close(self) -> None:
        return None


@functools.cache
def _open_states() -> frozenset[Any]:
    from psycopg.pq import TransactionStatus

    return frozenset(
        {TransactionStatus.INTRANS, TransactionStatus.INERROR, TransactionStatus.ACTIVE}
    )


def _in_transaction(conn: psycopg.Connection[Any]) -> bool:
    """libpq's last known state; a closed connection (UNKNOWN) holds no transaction."""
    return conn.info.transaction_status in _open_states()


@functools.lru_cache(maxsize=1024)
def _verb(sql: str) -> str:
    """The statement's first word, upper-case (a store's statements are a few constant
    strings: cached)."""
    words = sql.split(None, 1)
    return words[0].upper().rstrip(";") if words else ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _Gate:
    """Connection attempts to one PostgreSQL DSN, shared by every Db of the process on it:
    while the server refuses connections, one attempt per ``RECONNECT_INTERVAL_S`` is made
    and the calls in between fail fast with the same message (a down database is not
    hammered by every reader thread, store and request)."""

    def __init__(self, target: DbTarget) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._retry_at = 0.0
        self._reason = ""

    def connect(self, *, readonly: bool) -> psycopg.Connection[Any]:
        import psycopg

        with self._lock:
            wait = self._retry_at - time.monotonic()
            if wait > 0:
                raise DatabaseUnavailable(self._reason)
            try:
                conn = pg_connect(self.target.dsn, readonly=readonly)
            except psycopg.OperationalError as e:
                if not self._reason:
                    log.warning("cannot connect to %s: %s", self.target.describe(), e)
                self._retry_at = time.monotonic() + RECONNECT_INTERVAL_S
                self._reason = (
                    f"the database {self.target.describe()} is unavailable "
                    f"({_first_line(e)}); retry in a moment"
                )
                raise DatabaseUnavailable(self._reason) from e
            if self._reason:
                log.warning("the database %s is reachable again", self.target.describe())
            self._retry_at, self._reason = 0.0, ""
            return conn


_gates: dict[str, _Gate] = {}
_gates_lock = threading.Lock()


def _gate(target: DbTarget) -> _Gate:
    with _gates_lock:
        gate = _gates.get(target.dsn)
        if gate is None:
            gate = _gates[target.dsn] = _Gate(target)
        return gate


def open_db(target: DbTarget, *, readonly: bool = False) -> Db:
    """A connection to ``target``; the schema is expected to be migrated already."""
    return Db(target, readonly=readonly)


def as_target(where: DbTarget | Path, *, readonly: bool = False) -> DbTarget:
    """The database a store was handed: a DbTarget as it is (whoever opened the database
    migrated it once at start: node, CLI), or, as stores were always given, the path of a
    SQLite file, which is migrated here first unless it is opened read-only."""
    if isinstance(where, DbTarget):
        return where
    target = DbTarget.sqlite(where)
    if not readonly:
        migrate(target)
    return target


def migrate(target: DbTarget, *, in_child: bool = False) -> None:
    """Bring the schema to head (Alembic): idempotent, and safe when several nodes start
    at once on one PostgreSQL database (they queue on an advisory lock). ``in_child``: in a
    short-lived child process, keeping SQLAlchemy out of a long-running one. See
    :mod:`sentra.store.migrations`."""
    from sentra.store.migrations import upgrade

    upgrade(target, in_child=in_child)


def sqlite_connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A sqlite3 connection with the pragmas every Sentra connection uses."""
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 10000")
    if not readonly:
        # Must precede the first table to take effect; harmless afterwards.
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        _enter_wal(conn)
    # NORMAL in WAL mode: a commit survives the process being killed (kill -9); only a
    # power cut can lose the last transactions. See docs/data-layout.md.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA cache_size = -8000")
    return conn


def _enter_wal(conn: sqlite3.Connection, patience_s: float = 10.0) -> None:
    """Put the file in WAL mode. Switching a new file's journal mode needs its exclusive
    lock, and SQLite answers "database is locked" at once (no busy handler) while another
    process or thread holds it, e.g. a second node creating the same file: wait and retry."""
    deadline = time.monotonic() + patience_s
    backoff = Backoff(base=0.005, cap=0.2)  # jittered: racing openers do not retry in step
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            delay = backoff.next_delay()
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)


def pg_connect(dsn: str, *, readonly: bool = False) -> psycopg.Connection[Any]:
    """A psycopg connection in autocommit mode (explicit transactions, as with SQLite),
    giving up after ``CONNECT_TIMEOUT_S`` unless the DSN sets its own ``connect_timeout``
    (an unreachable host would otherwise hold the caller for minutes)."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    extra: dict[str, Any] = {}
    if "connect_timeout" not in conninfo_to_dict(dsn):
        extra["connect_timeout"] = CONNECT_TIMEOUT_S
    conn = psycopg.connect(dsn, autocommit=True, **extra)
    if readonly:
        conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    return conn
