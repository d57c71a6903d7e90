"""PostgreSQL closing Sentra's connections (a restart, a failover, ``pg_terminate_backend``):
the adapter reconnects by itself, never replays a transaction, backs off while the server
refuses connections, and a whole node rides through with 503s, never a 500 or a lost ack.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import psycopg
import pytest

from sentra.store import codec, sql
from sentra.store.sql import DatabaseUnavailable, Db, DbTarget, open_db
from tests.dbtarget import ADMIN_DSN, fresh_postgres
from tests.nodeproc import NodeProcess, create_token, wait_for


def _dbname(target: DbTarget) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(target.dsn)["dbname"])


def _terminate(target: DbTarget, pid: int | None = None) -> int:
    """Terminate one backend (``pid``) or every backend on the target's database, from an
    admin connection on another database, and wait until they are gone; return how many
    were terminated."""
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        pids = (
            [pid]
            if pid is not None
            else [
                int(r[0])
                for r in admin.execute(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (_dbname(target),),
                )
            ]
        )
        done = [
            p for p in pids if admin.execute("SELECT pg_terminate_backend(%s)", (p,)).fetchone()[0]
        ]
        # The server closes the sockets a moment after the signal.
        wait_for(
            lambda: (
                not admin.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE pid = ANY(%s)", (done,)
                ).fetchall()
            ),
            timeout=10,
        )
    return len(done)


def _pid(db: Db) -> int:
    return int(db.execute("SELECT pg_backend_pid()").fetchone()[0])


@contextmanager
def _db_with_table() -> Iterator[tuple[DbTarget, Db]]:
    with fresh_postgres() as target:
        db = open_db(target)
        try:
            db.execute("CREATE TABLE t_rc (k BIGINT PRIMARY KEY, v TEXT NOT NULL)")
            yield target, db
        finally:
            db.close()


def test_a_statement_outside_a_transaction_reconnects() -> None:
    with _db_with_table() as (target, db):
        db.execute("INSERT INTO t_rc(k, v) VALUES (?, ?)", (1, "one"))
        first = _pid(db)
        assert _terminate(target, first) == 1
        # The next statement meets the closed connection and runs again on a fresh one.
        assert db.execute("SELECT v FROM t_rc WHERE k = ?", (1,)).fetchall() == [("one",)]
        second = _pid(db)
        assert second != first
        _terminate(target, second)
        db.executemany("INSERT INTO t_rc(k, v) VALUES (?, ?)", iter([(2, "two"), (3, "three")]))
        assert db.execute("SELECT count(*) FROM t_rc").fetchone() == (3,)
        assert not db.in_transaction
        # A Db closed by its owner (the node stopping) is never reopened behind its back.
        db.close()
        with pytest.raises(DatabaseUnavailable, match="stopping"):
            db.execute("SELECT 1")


def test_a_transaction_is_never_replayed_and_leaves_nothing_half_written() -> None:
    with _db_with_table() as (target, db):
        lost = pytest.raises(DatabaseUnavailable, match="rolled it back, nothing of it was stored")
        with lost, db.transaction():
            db.execute("INSERT INTO t_rc(k, v) VALUES (?, ?)", (1, "first half"))
            _terminate(target, _pid(db))
            db.execute("INSERT INTO t_rc(k, v) VALUES (?, ?)", (2, "second half"))
        assert not db.in_transaction
        # The next call reconnects; the server rolled the first half back.
        assert db.execute("SELECT count(*) FROM t_rc").fetchone() == (0,)
        with db.transaction():
            db.execute("INSERT INTO t_rc(k, v) VALUES (?, ?)", (3, "after"))
        assert db.execute("SELECT k FROM t_rc").fetchall() == [(3,)]


def test_a_lost_transaction_stays_open_until_its_owner_ends_it() -> None:
    """Hand-written BEGIN ... COMMIT (the telemetry store's snapshots and deletes): nothing
    of the lost transaction may run on the new connection, and COMMIT says it failed."""
    with _db_with_table() as (target, db):
        db.execute("BEGIN")
        db.execute("INSERT INTO t_rc(k, v) VALUES (?, ?)", (1, "lost"))
        _terminate(target, _pid(db))
        with pytest.raises(DatabaseUnavailable):
            db.execute("INSERT INTO t_rc(k, v) VALUES (?, ?)", (2, "lost too"))
        assert db.in_transaction
        with pytest.raises(DatabaseUnavailable, match="inside this transaction"):
            db.execute("INSERT INTO t_rc(k, v) VALUES (?, ?)", (3, "carrying on"))
        with pytest.raises(DatabaseUnavailable, match="nothing of it was stored"):
            db.execute("COMMIT")
        assert not db.in_transaction
        assert db.execute("SELECT count(*) FROM t_rc").fetchone() == (0,)
        # ROLLBACK ends a lost transaction quietly (the server has rolled it back).
        db.execute("BEGIN")
        _terminate(target, _pid(db))
        with pytest.raises(DatabaseUnavailable):
            db.execute("SELECT 1")
        assert db.execute("ROLLBACK").fetchall() == []
        assert db.execute("SELECT 1").fetchone() == (1,)
        # A transaction abandoned without ending it: the next BEGIN starts afresh.
        db.execute("BEGIN")
        _terminate(target, _pid(db))
        with pytest.raises(DatabaseUnavailable):
            db.execute("SELECT 1")
        db.execute("BEGIN")
        db.execute("INSERT INTO t_rc(k, v) VALUES (?, ?)", (4, "kept"))
        db.execute("COMMIT")
        assert db.execute("SELECT k FROM t_rc").fetchall() == [(4,)]


def test_a_connection_lost_at_commit_says_what_became_of_it() -> None:
    with _db_with_table() as (target, db):
        # The server rolled it back (its backend was gone before COMMIT arrived): it says so.
        lost = pytest.raises(DatabaseUnavailable, match="the transaction was not stored")
        with lost, db.transaction():
            db.execute("INSERT INTO t_rc(k, v) VALUES (?, ?)", (1, "never committed"))
            _terminate(target, _pid(db))
        assert not db.in_transaction
        assert db.execute("SELECT count(*) FROM t_rc").fetchone() == (0,)


def test_a_commit_whose_answer_is_lost_is_confirmed_by_the_server() -> None:
    """The server commits and the link dies before its answer arrives: ``transaction()``
    asks the server (txid_status) and returns normally, so the caller does not send the
    batch again. The loss of the answer is simulated at the narrowest point: the real
    COMMIT runs, then the connection is closed and psycopg's error raised."""
    with _db_with_table() as (_target, db):
        conn = db._pg
        assert conn is not None
        real = conn.execute

        def execute(query, *args, **kwargs):  # type: ignore[no-untyped-def]
            cur = real(query, *args, **kwargs)
            if bytes(query).strip().upper() == b"COMMIT":
                conn.close()
                raise psycopg.OperationalError("server closed the connection unexpectedly")
            return cur

        conn.execute = execute  # type: ignore[method-assign]
        with db.transaction():
            db.execute("INSERT INTO t_rc(k, v) VALUES (?, ?)", (1, "committed"))
        assert db._pg is not conn  # replaced to ask
        assert db.execute("SELECT v FROM t_rc").fetchall() == [("committed",)]


def test_a_refusing_server_is_tried_once_per_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql, "RECONNECT_INTERVAL_S", 1.5)
    with _db_with_table() as (target, db):
        name = _dbname(target)
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            try:
                _terminate(target, _pid(db))
                with pytest.raises(DatabaseUnavailable, match="is unavailable") as refused:
                    db.execute("SELECT 1")
                failed_at = time.monotonic()
                assert isinstance(refused.value.__cause__, psycopg.OperationalError)
                assert name in str(refused.value) and "password" not in str(refused.value)
            finally:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        # The server takes connections again, but until the interval is over every Db on
        # this DSN (this one, and one opened now) fails fast without trying.
        with pytest.raises(DatabaseUnavailable, match="is unavailable"):
            db.execute("SELECT 1")
        with pytest.raises(DatabaseUnavailable, match="is unavailable"):
            open_db(target)
        assert time.monotonic() - failed_at < 1.5, "the machine was too slow for this check"
        time.sleep(1.6)
        assert db.execute("SELECT 1").fetchone() == (1,)
        other = open_db(target)
        other.close()


# ------------------------------------------------------------------ a whole node


def _configure(data_dir, dsn):  # type: ignore[no-untyped-def]
    (data_dir / "config").mkdir(parents=True)
    (data_dir / "config" / "sentra.toml").write_text(
        f'[history]\nbackend = "postgres"\npostgres_dsn = "{dsn}"\n'
    )


class _Sender(threading.Thread):
    """Posts batches of distinct samples (value = sequence number) until stopped, keeping
    each answer's status and which values it carried."""

    def __init__(self, url: str, token: str, base_ts: float) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=15
        )
        self.base_ts = base_ts
        self.stop = threading.Event()
        self.answers: list[tuple[int, str, range]] = []  # status, content type, values
        self.errors: list[BaseException] = []

    def run(self) -> None:
        seq = 0
        try:
            while not self.stop.is_set():
                values = range(seq, seq + 20)
                seq += 20
                batch = {
                    "metrics": [
                        {"name": "app.rc", "value": v, "ts": self.base_ts + v / 1000}
                        for v in values
                    ]
                }
                r = self.client.post("/api/v1/ingest", json=batch)
                self.answers.append((r.status_code, r.headers.get("content-type", ""), values))
                if r.status_code != 200:
                    time.sleep(0.05)
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)
        finally:
            self.client.close()

    def count(self, status: int) -> int:
        return sum(1 for a in self.answers if a[0] == status)


def _stored_values(dsn: str) -> Counter[float]:
    """Every value of app.rc in the database: the head rows and the sealed chunks."""
    found: Counter[float] = Counter()
    with psycopg.connect(dsn) as conn:
        for (value,) in conn.execute(
            "SELECT value FROM head JOIN series ON series.id = series_id WHERE name = 'app.rc'"
        ):
            found[value] += 1
        for (blob,) in conn.execute(
            "SELECT data FROM chunks JOIN series ON series.id = series_id WHERE name = 'app.rc'"
        ):
            found.update(codec.decode(bytes(blob))[1].tolist())
    return found


def _history(client: httpx.Client, since: float) -> httpx.Response:
    return client.get(
        "/api/v1/history",
        params={"name": "app.rc", "from": since - 1, "to": since + 60, "limit": 100000},
    )


def test_a_node_rides_through_its_connections_being_closed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with fresh_postgres() as target:
        data_dir = tmp_path / "node"
        _configure(data_dir, target.dsn)
        node = NodeProcess(data_dir).start()
        token = create_token(data_dir)
        client = httpx.Client(
            base_url=node.url, headers={"Authorization": f"Bearer {token}"}, timeout=15
        )
        base_ts = time.time() - 300
        sender = _Sender(node.url, token, base_ts)
        name = _dbname(target)
        try:
            sender.start()
            wait_for(lambda: sender.count(200) >= 10)
            # 1. Every backend of the node (stores, readers, the seal and lease sessions),
            # three times over, while batches keep coming: the node reconnects at once.
            killed = 0
            for _ in range(3):
                killed += _terminate(target)
                time.sleep(0.3)
            assert killed >= 3
            acked = sender.count(200)
            wait_for(lambda: sender.count(200) >= acked + 20)
            # 2. The database refuses connections for a while (a restart): 503s, then 200s.
            with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                try:
                    _terminate(target)
                    refused = sender.count(503)
                    wait_for(lambda: sender.count(503) >= refused + 5)
                    r = _history(client, base_ts)
                    assert r.status_code == 503, r.text
                    assert r.headers["content-type"].startswith("application/problem+json")
                    assert "is unavailable" in r.json()["detail"]
                    assert r.headers["retry-after"] == "1"
                finally:
                    admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            acked = sender.count(200)
            wait_for(lambda: sender.count(200) >= acked + 20)
            sender.stop.set()
            sender.join(30)
            assert not sender.errors, sender.errors
            statuses = Counter(a[0] for a in sender.answers)
            assert set(statuses) == {200, 503}, statuses
            for status, ctype, _ in sender.answers:
                if status == 503:
                    assert ctype.startswith("application/problem+json")
            # History answers again, with every acknowledged sample.
            r = _history(client, base_ts)
            assert r.status_code == 200, r.text
            points = r.json()["series"][0]["points"]
            acked_values = {v for st, _, values in sender.answers if st == 200 for v in values}
            assert {p[1] for p in points} >= {float(v) for v in acked_values}
            assert client.get("/api/v1/storage/info").status_code == 200
        finally:
            sender.stop.set()
            client.close()
            code = node.stop()
        assert code == 0, node.output[-3000:]
        assert "unhandled error" not in (data_dir / "logs" / "sentra.log").read_text()
        stored = _stored_values(target.dsn)
        twice = {v: n for v, n in stored.items() if n > 1}
        assert not twice, f"stored more than once: {sorted(twice)[:10]}"
        missing = sorted(float(v) for v in acked_values if stored[float(v)] != 1)
        assert not missing, f"acknowledged but not stored: {missing[:10]}"
        print(f"answers: {dict(statuses)}; backends terminated: {killed}")
