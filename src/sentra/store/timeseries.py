"""TelemetryStore: the history (series, head, chunks, rollup tiers, retention) plus logs,
spans, dead letters and the idempotency record, on SQLite or PostgreSQL.

One design on both engines (docs/data-layout.md): samples land in ``head`` (one row each,
cheap appends, the write-ahead record of what is not sealed yet); a seal moves them into
compressed per-series ``chunks`` (codec.py) and folds them into the ``rollups`` tiers;
retention drops chunks, rollup buckets and records past their age. What differs is who
knows the unsealed rows:

* SQLite (``shared`` False): this process is the only writer, so an in-memory mirror of
  the head (head.py) answers queries, and a seal snapshots it, builds the chunks without
  the writer lock and deletes exactly the snapshot's rows (``rowid`` bound).
* PostgreSQL (``shared`` True): several nodes may write into one database, so the head
  table itself is read by queries (in one REPEATABLE READ snapshot per query, so a seal
  committed meanwhile is seen wholly or not at all), and a seal runs in one transaction
  under ``pg_try_advisory_xact_lock`` (one node seals at a time; the others skip) that
  ``DELETE ... RETURNING``s the committed head rows, so a row written concurrently by
  another node stays for the next seal: nothing is lost or sealed twice. Series ids come
  from an upsert by key with ``RETURNING``; the caches accept ids another node created.

Threading: one write connection, used by one thread at a time (every method that writes
holds ``_wlock``; the node's writer commits on a worker thread — or on the event loop with
``try_write``, which never waits for the lock — and runs seals and WAL checkpoints on
worker threads between commits), and any number of readers, each thread with its own read
connection (WAL lets them run beside the writer on SQLite). The in-memory head is shared
under a lock that also covers the instant a seal moves rows from the head into chunks, so
no reader sees a sample twice or not at all. On PostgreSQL a seal uses a connection of its
own, so this node's writers go on while it runs.

WAL checkpoints (SQLite): the write connection does not checkpoint inside its commits
(``wal_autocheckpoint = 0``): a caller that passes ``deferred=True`` runs
``checkpoint_wal`` itself, between commits, on a worker thread (SQLite releases the GIL
while it copies pages, so that work runs beside the loop on the other core); any other
write checkpoints inline once ``CHECKPOINT_ROWS`` rows have gone into the WAL, as SQLite's
own auto-checkpoint would. Measured (5,000-row commits): the inline checkpoint is ~0.5 µs
of the ~2 µs a head row costs the writer. PostgreSQL checkpoints by itself.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import numpy as np

from sentra.events import Labels, LogRecord, Sample, Span, series_key
from sentra.store import codec, records
from sentra.store.base import (
    HistoryResult,
    QueryError,
    SeriesInfo,
    SeriesPoints,
    StoreStats,
    UnknownSeries,
)
from sentra.store.head import Head
from sentra.store.records import DeadLetter
from sentra.store.rollup import F64, I64, Buckets, aggregate, concat
from sentra.store.sql import Db, DbTarget, Dialect, migrate, open_db

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")
DAY_MS = 86_400_000
CHECKPOINT_ROWS = 100_000  # ~2-4 MB of WAL: about SQLite's default of 1,000 pages
SEAL_LOCK_KEY = 0x5E47_5EA1  # pg_try_advisory_xact_lock key: one node seals at a time

# The statements that differ by engine, side by side.
_UPSERT_ROLLUP = {
    Dialect.SQLITE: (
        "INSERT INTO rollups(tier, series_id, ts, min, max, sum, count) VALUES (?,?,?,?,?,?,?) "
        "ON CONFLICT(tier, series_id, ts) DO UPDATE SET min = min(min, excluded.min), "
        "max = max(max, excluded.max), sum = sum + excluded.sum, count = count + excluded.count"
    ),
    Dialect.POSTGRES: (
        "INSERT INTO rollups(tier, series_id, ts, min, max, sum, count) VALUES (?,?,?,?,?,?,?) "
        "ON CONFLICT(tier, series_id, ts) DO UPDATE SET "
        "min = LEAST(rollups.min, excluded.min), max = GREATEST(rollups.max, excluded.max), "
        "sum = rollups.sum + excluded.sum, count = rollups.count + excluded.count"
    ),
}
_INSERT_HEAD = "INSERT INTO head(series_id, ts, value) VALUES (?,?,?)"
# PostgreSQL: one statement per batch, the rows as three arrays (executemany would send
# one INSERT per row).
_INSERT_HEAD_ARRAYS = (
    "INSERT INTO head(series_id, ts, value) "
    "SELECT * FROM unnest(?::bigint[], ?::bigint[], ?::double precision[])"
)
_INSERT_CHUNK = "INSERT INTO chunks(series_id, start_ms, end_ms, n, data) VALUES (?,?,?,?,?)"
_BEGIN = {Dialect.SQLITE: "BEGIN IMMEDIATE", Dialect.POSTGRES: "BEGIN"}


class SeriesLike(Protocol):
    """A validated series identity shared by its samples (``ingest.model.SeriesRef``)."""

    @property
    def name(self) -> str: ...
    @property
    def labels(self) -> Labels: ...
    @property
    def key(self) -> str: ...


class ColumnsLike(Protocol):
    """Samples as parallel columns (``ingest.model.SampleColumns``)."""

    @property
    def refs(self) -> Sequence[SeriesLike]: ...
    @property
    def ts(self) -> Sequence[float]: ...
    @property
    def values(self) -> Sequence[float]: ...


def _exclusive(
    method: Callable[Concatenate[TelemetryStore, P], R],
) -> Callable[Concatenate[TelemetryStore, P], R]:
    """Run a method that uses the write connection while holding the writer lock."""

    def wrapper(self: TelemetryStore, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._wlock:
            return method(self, *args, **kwargs)

    functools.update_wrapper(wrapper, method)
    return wrapper


@dataclass(frozen=True)
class Tier:
    """A rollup tier: buckets of ``spacing_s`` kept for ``retention_days``."""

    spacing_s: int
    retention_days: float

    @property
    def spacing_ms(self) -> int:
        return self.spacing_s * 1000


# Rows bound for the head: (series ids, int ms, values) per block, and per-row tuples.
_Block = tuple[list[int], Any, Sequence[float]]
_Rows = list[tuple[int, int, float]]


class TelemetryStore:
    def __init__(
        self,
        target: DbTarget | Path,
        *,
        retention_days: float = 30,
        tiers: Sequence[Tier] = (Tier(60, 180), Tier(3600, 1825)),
        seal_interval_s: int = 600,
        max_head_rows: int = 500_000,
        records_retention_days: float | None = None,
        deadletter_retention_days: float = 7,
        dedupe_window_s: float = 600,
        readonly: bool = False,
        migrate_schema: bool = True,
    ) -> None:
        """``target``: a DbTarget, or the path of a SQLite file. ``migrate_schema``: bring
        the schema to head first (skipped when readonly, or when the caller — open_stores
        — has done it once for every store)."""
        self.target = target if isinstance(target, DbTarget) else DbTarget.sqlite(target)
        self.path = self.target.path  # the SQLite file; None on PostgreSQL
        self.dialect = self.target.dialect
        self.shared = self.dialect is Dialect.POSTGRES  # other nodes may write the same tables
        self.retention_days = retention_days
        self.records_retention_days = records_retention_days or retention_days
        self.deadletter_retention_days = deadletter_retention_days
        self.dedupe_window_s = dedupe_window_s
        self.tiers = sorted(tiers, key=lambda t: t.spacing_s)
        self.seal_interval_ms = seal_interval_s * 1000
        self.max_head_rows = max_head_rows
        self.readonly = readonly
        if not readonly and migrate_schema:
            migrate(self.target)
        self._write = open_db(self.target, readonly=readonly)
        if not readonly and not self.shared:
            self._write.execute("PRAGMA wal_autocheckpoint = 0")
        self._upsert_rollup = _UPSERT_ROLLUP[self.dialect]
        self.wal_rows = 0  # rows committed since the last WAL checkpoint (SQLite)
        self._unsealed = 0  # rows this node wrote since its last seal (PostgreSQL)
        self._local = threading.local()
        self._readers: list[Db] = []
        self._sealer: Db | None = None
        self._lock = threading.Lock()
        self._wlock = threading.RLock()
        self._seal_lock = threading.Lock()
        self._head = Head()  # the mirror of the head table (SQLite only: one writer)
        self._ids: dict[str, int] = {}
        self._fast_ids: dict[tuple[Any, ...], int] = {}
        self._ref_ids: dict[SeriesLike, int] = {}
        self._info: dict[int, SeriesInfo] = {}
        self._last_seal_ms = int(time.time() * 1000)
        self._last_retention_ms = 0
        self.samples_written = 0
        self.logs_written = 0
        self.spans_written = 0
        self.deadletters_written = 0
        self.seals = 0
        self._load()

    # ---------------------------------------------------------------- start-up

    def _load(self) -> None:
        for sid, name, labels, key in self._write.execute(
            "SELECT id, name, labels, key FROM series"
        ):
            self._ids[key] = sid
            self._info[sid] = SeriesInfo(sid, name, json.loads(labels))
        if self.shared:
            return  # the head table is read directly
        rows = 0
        for sid, ts, value in self._write.execute("SELECT series_id, ts, value FROM head"):
            self._head.add(sid, ts, value)
            rows += 1
        if rows:
            log.info("recovered %d unsealed samples from the head", rows)

    def _reader(self) -> Db:
        conn: Db | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = open_db(self.target, readonly=True)
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        return conn

    def read(self, fn: Callable[Concatenate[Db, P], R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn`` on the calling thread's read connection (for the SQL of telemetry.py
        and records.py, which take a Db)."""
        return fn(self._reader(), *args, **kwargs)

    # ------------------------------------------------------------------ writes

    def _series_id(self, name: str, labels: Labels, now_ms: int, key: str = "") -> int:
        key = key or series_key(name, labels)
        sid = self._ids.get(key)
        if sid is None:
            cur = self._write.execute(
                "INSERT INTO series(name, labels, key, created_ms) VALUES (?,?,?,?) "
                "ON CONFLICT(key) DO UPDATE SET name = excluded.name RETURNING id",
                (name, json.dumps(labels, sort_keys=True), key, now_ms),
            )
            sid = int(cur.fetchone()[0])
            self._ids[key] = sid
            with self._lock:
                self._info[sid] = SeriesInfo(sid, name, dict(labels))
        return sid

    def append(self, samples: Iterable[Sample]) -> int:
        """Commit the samples (one transaction); return how many were stored."""
        return self.write(samples=samples)

    def try_write(self, **batch: Any) -> int | None:
        """``write(deferred=True)`` if the writer lock is free now, else None at once (a
        seal or a retention pass holds it): the event loop commits without ever blocking
        on the lock."""
        if not self._wlock.acquire(blocking=False):
            return None
        try:
            return self._commit(**batch)
        finally:
            self._wlock.release()

    def write(self, *, deferred: bool = False, **batch: Any) -> int:
        """Commit everything given in ONE transaction (accepted means durable); return the
        number of samples stored. Takes ``samples`` (``Sample``s), ``columns``
        (``ColumnsLike`` blocks), ``logs``, ``spans``, ``dedupe_record`` (bytes) and
        ``deadletters``. ``deferred``: the caller runs ``seal`` (when ``seal_due``) and
        ``checkpoint_wal`` (when ``checkpoint_due``) itself; otherwise they run here, after
        the commit."""
        with self._wlock:
            n = self._commit(**batch)
        if not deferred:
            if self.seal_due:
                self.seal()
            if self.checkpoint_due:
                self.checkpoint_wal()
        return n

    def _commit(
        self,
        *,
        samples: Iterable[Sample] = (),
        columns: Sequence[ColumnsLike] = (),
        logs: Sequence[LogRecord] = (),
        spans: Sequence[Span] = (),
        dedupe_record: bytes = b"",
        deadletters: Sequence[DeadLetter] = (),
    ) -> int:
        now = time.time()
        now_ms = int(now * 1000)
        w = self._write
        # PostgreSQL: new series are upserted before the transaction, each on its own, so
        # two nodes creating the same series never wait on each other's row locks inside
        # their batches (in opposite orders: a deadlock). SQLite: inside, as one commit.
        early = self._rows(samples, columns, now_ms) if self.shared else None
        with w.transaction():
            rows, blocks = early or self._rows(samples, columns, now_ms)
            self._insert_head(rows, blocks)
            if logs:
                records.insert_logs(w, logs)
            if spans:
                records.insert_spans(w, spans)
            if dedupe_record:
                w.execute(
                    "INSERT INTO dedupe_log(ts_ms, hashes) VALUES (?,?)", (now_ms, dedupe_record)
                )
            if deadletters:
                records.insert_deadletters(w, deadletters, now)
        n = len(rows) + sum(len(b[0]) for b in blocks)
        if n:
            if self.shared:
                self._unsealed += n
            else:
                with self._lock:
                    add = self._head.add
                    for sid, ts, value in rows:
                        add(sid, ts, value)
                    for sids, ts_ms, values in blocks:
                        self._head.extend(sids, ts_ms, values)
            self.samples_written += n
        self.logs_written += len(logs)
        self.spans_written += len(spans)
        self.deadletters_written += len(deadletters)
        self.wal_rows += n + len(logs) + len(spans) + len(deadletters) + 1
        return n

    def _rows(
        self, samples: Iterable[Sample], columns: Sequence[ColumnsLike], now_ms: int
    ) -> tuple[_Rows, list[_Block]]:
        """The head rows of a batch, with series ids resolved (new series inserted)."""
        rows: _Rows = []
        # Fast lookup by (name, labels in the order they came); the canonical key (sorted
        # labels) is built only the first time an ordering is seen.
        fast = self._fast_ids
        for s in samples:
            probe = (s.name, *s.labels.items())
            sid = fast.get(probe)
            if sid is None:
                sid = self._series_id(s.name, s.labels, now_ms)
                if len(fast) >= 200_000:
                    fast.clear()
                fast[probe] = sid
            rows.append((sid, round(s.ts * 1000), s.value))
        return rows, [self._block_rows(block, now_ms) for block in columns]

    def _block_rows(self, block: ColumnsLike, now_ms: int) -> _Block:
        """One block of columnar samples as series ids, int64 ms and values."""
        refs = block.refs
        ids = self._ref_ids
        sids = list(map(ids.get, refs))
        if None in sids:
            for i, ref in enumerate(refs):
                if sids[i] is None:
                    sid = self._series_id(ref.name, ref.labels, now_ms, ref.key)
                    if len(ids) >= 200_000:
                        ids.clear()
                    sids[i] = ids[ref] = sid
        # round() per value, in numpy: the same round-half-even, ~20x cheaper.
        ts_ms = np.rint(np.asarray(block.ts, dtype=np.float64) * 1000.0).astype(np.int64)
        return sids, ts_ms, block.values  # type: ignore[return-value]

    def _insert_head(self, rows: _Rows, blocks: list[_Block]) -> None:
        """INSERT the batch's head rows (inside the open transaction)."""
        w = self._write
        if self.shared:
            if rows:
                w.execute(_INSERT_HEAD_ARRAYS, [_pg_array(c) for c in zip(*rows, strict=True)])
            for sids, ts_ms, values in blocks:
                w.execute(
                    _INSERT_HEAD_ARRAYS,
                    [_pg_array(sids), _pg_array(ts_ms.tolist()), _pg_array(values)],
                )
            return
        if rows:
            w.executemany(_INSERT_HEAD, rows)
        for sids, ts_ms, values in blocks:
            w.executemany(_INSERT_HEAD, zip(sids, ts_ms.tolist(), values, strict=True))

    @property
    def seal_due(self) -> bool:
        return (self._unsealed if self.shared else self._head.rows) >= self.max_head_rows

    @property
    def checkpoint_due(self) -> bool:
        return not self.shared and self.wal_rows >= CHECKPOINT_ROWS

    @_exclusive
    def checkpoint_wal(self) -> None:
        """Copy the WAL back into the database (PASSIVE: readers are never waited for).
        Called between commits, so the next write can start the WAL over from its start."""
        self.wal_rows = 0
        if not self.shared:
            self._write.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def seal(self, *, wait: bool = True) -> int:
        """Move the unsealed samples into compressed chunks and roll them up; return how
        many were sealed (0 also when another node is sealing the shared database).

        SQLite, in three steps, so that writers are held up only for the first and the
        last: under the writer lock, snapshot the head mirror and note the table's last
        rowid; without it, build the chunks and rollups (the CPU-heavy part); under it
        again, one transaction inserts them and deletes the head rows up to that rowid,
        and the mirror forgets exactly the snapshot's rows. Rows written meanwhile stay in
        both. ``wait=False``: return 0 at once if a seal is already running."""
        if not self._seal_lock.acquire(blocking=wait):
            return 0
        try:
            if self.shared:
                return self._seal_shared()
            with self._wlock:
                self._last_seal_ms = int(time.time() * 1000)
                if self._head.rows == 0:
                    return 0
                with self._lock:
                    snapshot = self._head.snapshot()
                    generation, rows = self._head.generation, self._head.rows
                (max_rowid,) = self._write.execute("SELECT max(rowid) FROM head").fetchone()
            chunk_rows, rollup_rows = self._seal_rows(snapshot)
            with self._wlock:
                if self._head.generation != generation:
                    return 0  # history was deleted meanwhile: the snapshot is stale
                self._store_seal(chunk_rows, rollup_rows, rows, max_rowid, snapshot)
            self.seals += 1
            return rows
        finally:
            self._seal_lock.release()

    def _seal_shared(self) -> int:
        """PostgreSQL: seal every committed head row, of every node, in one transaction on
        the seal connection, while this node's writers go on with theirs."""
        self._last_seal_ms = int(time.time() * 1000)
        if self._sealer is None:
            self._sealer = open_db(self.target)
        db = self._sealer
        with db.transaction():
            (locked,) = db.execute(
                "SELECT pg_try_advisory_xact_lock(?)", (SEAL_LOCK_KEY,)
            ).fetchone()
            if not locked:
                return 0  # another node is sealing
            rows = db.execute("DELETE FROM head RETURNING series_id, ts, value").fetchall()
            if not rows:
                return 0
            chunk_rows, rollup_rows = self._seal_rows(_by_series(rows))
            db.executemany(_INSERT_CHUNK, chunk_rows)
            db.executemany(self._upsert_rollup, rollup_rows)
        self._unsealed = 0
        self.seals += 1
        return len(rows)

    def _seal_rows(
        self, snapshot: dict[int, tuple[I64, F64]]
    ) -> tuple[list[tuple[int, int, int, int, bytes]], list[tuple[Any, ...]]]:
        chunk_rows: list[tuple[int, int, int, int, bytes]] = []
        rollup_rows: list[tuple[Any, ...]] = []
        for sid, (ts, values) in snapshot.items():
            if ts.size == 0:
                continue
            chunk_rows.append(
                (sid, int(ts[0]), int(ts[-1]), int(ts.size), codec.encode(ts, values))
            )
            raw = Buckets.from_raw(ts, values)
            for level, tier in enumerate(self.tiers, start=1):
                b = aggregate(raw, tier.spacing_ms)
                rollup_rows.extend(
                    zip(
                        [level] * b.ts.size,
                        [sid] * b.ts.size,
                        b.ts.tolist(),
                        b.min.tolist(),
                        b.max.tolist(),
                        b.sum.tolist(),
                        b.count.tolist(),
                        strict=True,
                    )
                )
        return chunk_rows, rollup_rows

    def _store_seal(
        self,
        chunk_rows: list[tuple[int, int, int, int, bytes]],
        rollup_rows: list[tuple[Any, ...]],
        rows: int,
        max_rowid: int,
        snapshot: dict[int, tuple[I64, F64]],
    ) -> None:
        w = self._write
        w.execute("BEGIN IMMEDIATE")
        try:
            w.executemany(_INSERT_CHUNK, chunk_rows)
            w.executemany(self._upsert_rollup, rollup_rows)
            if self._head.rows == rows:
                # Nothing was written since the snapshot: the table holds exactly its rows,
                # and DELETE without WHERE takes SQLite's truncate path (~2x faster).
                w.execute("DELETE FROM head")
            else:
                w.execute("DELETE FROM head WHERE rowid <= ?", (max_rowid,))
            with self._lock:
                w.execute("COMMIT")
                self._head.drop_first({sid: int(t.size) for sid, (t, _) in snapshot.items()})
        except BaseException:
            if w.in_transaction:
                w.execute("ROLLBACK")
            raise

    def maintain(self, now: float) -> None:
        now_ms = int(now * 1000)
        if now_ms - self._last_seal_ms >= self.seal_interval_ms:
            self.seal()
        if now_ms - self._last_retention_ms >= 600_000:
            self._last_retention_ms = now_ms
            self.apply_retention(now)

    @_exclusive
    def apply_retention(self, now: float) -> int:
        now_ms = int(now * 1000)
        removed = 0
        w = self._write
        with w.transaction():
            cutoff = now_ms - int(self.retention_days * DAY_MS)
            removed += w.execute("DELETE FROM chunks WHERE end_ms < ?", (cutoff,)).rowcount
            for level, tier in enumerate(self.tiers, start=1):
                tcut = now_ms - int(tier.retention_days * DAY_MS)
                removed += w.execute(
                    "DELETE FROM rollups WHERE tier = ? AND ts < ?", (level, tcut)
                ).rowcount
            records_cut = now_ms - int(self.records_retention_days * DAY_MS)
            removed += records.expire(
                w,
                logs_before_ms=records_cut,
                spans_before_ms=records_cut,
                dedupe_before_ms=now_ms - int(self.dedupe_window_s * 1000),
                deadletters_before=now - self.deadletter_retention_days * 86400,
            )
        if removed:
            self._vacuum()
        return removed

    def _vacuum(self) -> None:
        """Give freed pages back to the file system (SQLite; PostgreSQL autovacuums)."""
        if not self.shared:
            self._write.execute("PRAGMA incremental_vacuum")

    @_exclusive
    def delete_history(self, before: float | None = None) -> int:
        """Delete every sample older than ``before`` (all when None); return rows removed.

        On PostgreSQL this covers every node's samples; another node's series-id caches
        keep the deleted ids until it restarts (see docs/scale-out.md)."""
        removed = 0
        w = self._write
        w.execute(_BEGIN[self.dialect])
        try:
            if before is None:
                for table in ("head", "chunks", "rollups", "series"):
                    removed += w.execute(f"DELETE FROM {table}").rowcount
            else:
                cut = int(before * 1000)
                removed += w.execute("DELETE FROM head WHERE ts < ?", (cut,)).rowcount
                removed += w.execute("DELETE FROM chunks WHERE end_ms < ?", (cut,)).rowcount
                removed += w.execute("DELETE FROM rollups WHERE ts < ?", (cut,)).rowcount
            with self._lock:
                w.execute("COMMIT")
                if before is None:
                    self._head.clear()
                    self._ids.clear()
                    self._fast_ids.clear()
                    self._ref_ids.clear()
                    self._info.clear()
                else:
                    self._head.drop_before(int(before * 1000))
        except BaseException:
            if w.in_transaction:
                w.execute("ROLLBACK")
            raise
        self._vacuum()
        return removed

    @_exclusive
    def checkpoint(self) -> None:
        """Fold the WAL back into the database file (on a clean stop; SQLite only)."""
        if not self.shared:
            self._write.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @_exclusive
    def close(self) -> None:
        with self._lock:
            readers, self._readers = self._readers, []
        for conn in readers:
            conn.close()
        if self._sealer is not None:
            with self._seal_lock:
                self._sealer.close()
        self._write.close()

    # ------------------------------------------------------------------- reads

    def _known(self, name: str | None = None) -> list[SeriesInfo]:
        """The series (named ``name``, or all). SQLite: from memory, where every series is
        created. PostgreSQL: from the table, which also holds other nodes' series."""
        if self.shared:
            where, args = ("WHERE name = ?", (name,)) if name is not None else ("", ())
            rows = (
                self._reader()
                .execute(f"SELECT id, name, labels FROM series {where}", args)
                .fetchall()
            )
            found = [SeriesInfo(r[0], r[1], json.loads(r[2])) for r in rows]
            with self._lock:
                self._info.update((i.id, i) for i in found)
            return found
        with self._lock:
            return [i for i in self._info.values() if name is None or i.name == name]

    def series(self, name_contains: str = "", limit: int = 1000) -> list[SeriesInfo]:
        needle = name_contains.lower()
        out = [
            i
            for i in self._known()
            if not needle
            or needle in i.name.lower()
            or any(needle in f"{k}={v}".lower() for k, v in i.labels.items())
        ]
        out.sort(key=lambda i: series_key(i.name, i.labels))
        return out[:limit]

    def _matching(self, name: str, labels: Labels) -> list[SeriesInfo]:
        infos = self._known(name)
        return [i for i in infos if all(i.labels.get(k) == v for k, v in labels.items())]

    @contextlib.contextmanager
    def _snapshot(self, conn: Db) -> Iterator[None]:
        """PostgreSQL: the reads inside see one committed state (a seal moves rows from
        head to chunks in one transaction: seen wholly or not at all). SQLite: the mirror
        lock does that, per series."""
        if not self.shared:
            yield
            return
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            yield
        finally:
            conn.execute("COMMIT")

    def history(
        self,
        name: str,
        labels: Labels,
        start: float,
        end: float,
        *,
        granularity: float | None = None,
        limit: int = 1000,
        now: float,
    ) -> HistoryResult:
        if not (start == start and end == end) or start > end:
            raise QueryError(f"'from' ({start}) must not be after 'to' ({end})")
        if limit < 1 or limit > 100_000:
            raise QueryError("limit must be between 1 and 100000")
        if granularity is not None and granularity <= 0:
            raise QueryError("granularity must be a positive number of seconds")
        matches = self._matching(name, labels)
        if not matches:
            what = f"{name} with labels {labels}" if labels else name
            raise UnknownSeries(f"no stored series named {what}")
        start_ms, end_ms = int(start * 1000), int(end * 1000)
        span = max(end_ms - start_ms, 1)
        step_ms = max(int((granularity or 0) * 1000), -(-span // max(limit - 1, 1)), 1)
        level = self._pick_tier(step_ms, span, limit, start_ms, int(now * 1000))
        if level:
            step_ms = max(step_ms, self.tiers[level - 1].spacing_ms)
        out: list[SeriesPoints] = []
        conn = self._reader()
        with self._snapshot(conn):
            for info in matches[:100]:
                with self._lock if not self.shared else contextlib.nullcontext():
                    head_t, head_v = self._head_rows(conn, info.id, start_ms, end_ms)
                    if level == 0:
                        stored = self._read_raw(conn, info.id, start_ms, end_ms)
                    else:
                        stored = self._read_rollup(conn, level, info.id, start_ms, end_ms, step_ms)
                data = concat([stored, Buckets.from_raw(head_t, head_v)])
                native = level == 0 and granularity is None and data.ts.size <= limit
                if not native:
                    data = aggregate(data, step_ms)
                elif data.ts.size > 1 and (np.diff(data.ts) < 0).any():
                    data = aggregate(data, 1)
                data = _tail(data, limit)
                out.append(
                    SeriesPoints(
                        name=info.name,
                        labels=info.labels,
                        ts=(data.ts / 1000).tolist(),
                        avg=data.avg.tolist(),
                        min=data.min.tolist(),
                        max=data.max.tolist(),
                    )
                )
        tier = "raw" if level == 0 else f"{self.tiers[level - 1].spacing_s}s"
        return HistoryResult(tier=tier, granularity=step_ms / 1000, series=out)

    def _head_rows(self, conn: Db, sid: int, start_ms: int, end_ms: int) -> tuple[I64, F64]:
        """The unsealed samples of one series in [start_ms, end_ms], sorted by time."""
        if self.shared:
            rows = conn.execute(
                "SELECT ts, value FROM head WHERE series_id = ? AND ts >= ? AND ts <= ? "
                "ORDER BY ts",
                (sid, start_ms, end_ms),
            ).fetchall()
            arr = np.array(rows, dtype=np.float64).reshape(-1, 2)
            return arr[:, 0].astype(np.int64), arr[:, 1]
        head_t, head_v = self._head.arrays(sid)
        keep = (head_t >= start_ms) & (head_t <= end_ms)
        return head_t[keep], head_v[keep]

    def _pick_tier(self, step_ms: int, span_ms: int, limit: int, start_ms: int, now_ms: int) -> int:
        """The coarsest tier whose spacing fits the step, or that still gives at least half
        the points asked for (a 30-day chart from hourly buckets: 720 points, ~1 ms, instead
        of 43,200 one-minute rows, ~27 ms)."""
        level = 0
        for i, tier in enumerate(self.tiers, start=1):
            if tier.spacing_ms <= step_ms or span_ms // tier.spacing_ms >= limit // 2:
                level = i
        # Raw data past its retention is gone: fall back to the finest tier that has it.
        horizons = [self.retention_days] + [t.retention_days for t in self.tiers]
        while level < len(self.tiers) and start_ms < now_ms - int(horizons[level] * DAY_MS):
            level += 1
        return level

    @staticmethod
    def _read_raw(conn: Db, sid: int, start_ms: int, end_ms: int) -> Buckets:
        parts = []
        for (blob,) in conn.execute(
            # (series_id, end_ms, start_ms) is indexed: only chunks ending after the start
            # are visited, and the start bound is checked in the index.
            "SELECT data FROM chunks WHERE series_id = ? AND end_ms >= ? AND start_ms <= ?",
            (sid, start_ms, end_ms),
        ):
            ts, values = codec.decode(blob)
            keep = (ts >= start_ms) & (ts <= end_ms)
            parts.append(Buckets.from_raw(ts[keep], values[keep]))
        return concat(parts)

    @staticmethod
    def _read_rollup(
        conn: Db, level: int, sid: int, start_ms: int, end_ms: int, step_ms: int
    ) -> Buckets:
        rows = conn.execute(
            "SELECT (ts / ?) * ? AS b, min(min), max(max), sum(sum), sum(count) FROM rollups "
            "WHERE tier = ? AND series_id = ? AND ts >= ? AND ts <= ? GROUP BY b ORDER BY b",
            (step_ms, step_ms, level, sid, start_ms - start_ms % step_ms, end_ms),
        ).fetchall()
        if not rows:
            return Buckets.empty()
        arr = np.array(rows, dtype=np.float64)  # (PostgreSQL's sum(bigint) is a Decimal)
        return Buckets(
            ts=arr[:, 0].astype(np.int64),
            min=arr[:, 1],
            max=arr[:, 2],
            sum=arr[:, 3],
            count=arr[:, 4].astype(np.int64),
        )

    def logs(self, **query: Any) -> list[LogRecord]:
        """Newest first; see records.query_logs for the filters."""
        return records.query_logs(self._reader(), **query)

    def spans(self, **query: Any) -> list[Span]:
        """Newest first; see records.query_spans for the filters."""
        return records.query_spans(self._reader(), **query)

    def trace(self, trace_id: str) -> list[Span]:
        return records.trace_spans(self._reader(), trace_id)

    def deadletters(self, limit: int = 100, source: str = "") -> list[DeadLetter]:
        return records.list_deadletters(self._reader(), limit, source)

    @_exclusive
    def dedupe_since(self, since: float) -> list[tuple[float, bytes]]:
        """The idempotency record written since ``since`` (to rebuild it at start; on
        PostgreSQL every node's, so a batch retried against another node is known)."""
        rows = self._write.execute(
            "SELECT ts_ms, hashes FROM dedupe_log WHERE ts_ms >= ? ORDER BY ts_ms",
            (int(since * 1000),),
        ).fetchall()
        return [(r[0] / 1000, bytes(r[1])) for r in rows]

    def stats(self) -> StoreStats:
        conn = self._reader()
        with self._snapshot(conn):
            n_chunks, chunk_samples, cmin, cmax = conn.execute(
                "SELECT count(*), coalesce(sum(n), 0), min(start_ms), max(end_ms) FROM chunks"
            ).fetchone()
            (rollup_rows,) = conn.execute("SELECT count(*) FROM rollups").fetchone()
            if self.shared:
                head_rows, hmin, hmax = conn.execute(
                    "SELECT count(*), min(ts), max(ts) FROM head"
                ).fetchone()
                (n_series,) = conn.execute("SELECT count(*) FROM series").fetchone()
                (db_bytes,) = conn.execute("SELECT pg_database_size(current_database())").fetchone()
                spans = [(hmin, hmax)] if head_rows else []
            else:
                (page_count,) = conn.execute("PRAGMA page_count").fetchone()
                (page_size,) = conn.execute("PRAGMA page_size").fetchone()
                (free,) = conn.execute("PRAGMA freelist_count").fetchone()
                db_bytes = (page_count - free) * page_size
                with self._lock:
                    head_rows = self._head.rows
                    spans = [s for sid in self._head.series_ids() if (s := self._head.span(sid))]
                    n_series = len(self._info)
        lows = [x for x in [cmin, *(s[0] for s in spans)] if x is not None]
        highs = [x for x in [cmax, *(s[1] for s in spans)] if x is not None]
        return StoreStats(
            series=int(n_series),
            raw_samples=int(chunk_samples) + int(head_rows),
            chunks=int(n_chunks),
            head_rows=int(head_rows),
            rollup_rows=int(rollup_rows),
            oldest_ts=min(lows) / 1000 if lows else None,
            newest_ts=max(highs) / 1000 if highs else None,
            db_bytes=int(db_bytes),
        )


def _by_series(rows: Sequence[tuple[int, int, float]]) -> dict[int, tuple[I64, F64]]:
    """Head rows (series id, ms, value) in any order as per-series arrays sorted by time
    (what a seal is made of: the shape ``Head.snapshot`` gives)."""
    arr = np.array(rows, dtype=np.float64)  # ms and ids < 2**53: exact
    sids = arr[:, 0].astype(np.int64)
    ts = arr[:, 1].astype(np.int64)
    order = np.lexsort((ts, sids))
    sids, ts, values = sids[order], ts[order], arr[order, 2]
    bounds = [0, *(np.flatnonzero(np.diff(sids)) + 1).tolist(), sids.size]
    return {int(sids[a]): (ts[a:b], values[a:b]) for a, b in itertools.pairwise(bounds)}


def _pg_array(items: Iterable[float]) -> str:
    """A PostgreSQL array literal of numbers: ``str`` of a float is its shortest exact form
    (and ``nan``/``inf`` are read back as such), so nothing is lost; ~20x cheaper than
    letting the driver dump a list element by element."""
    return "{" + ",".join(map(str, items)) + "}"


def _tail(data: Buckets, limit: int) -> Buckets:
    if data.ts.size <= limit:
        return data
    return Buckets(
        data.ts[-limit:],
        data.min[-limit:],
        data.max[-limit:],
        data.sum[-limit:],
        data.count[-limit:],
    )
