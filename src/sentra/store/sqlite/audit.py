"""The audit log in the database: one row per state-changing request, kept ``retention_days``.

``AuditStore`` is the SQL (thread-safe: one connection behind a lock, used from worker
threads). ``AuditWriter`` is what the request path talks to: ``record()`` only appends to
a list on the event loop; ``run()`` writes what gathered every ``interval_s`` in one
transaction on a worker thread, so a burst of requests costs one commit, and the loop
never waits on the database. Entries are written within ``interval_s``; ``flush()`` (called on
shutdown and before every read) writes the rest at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sentra.store.sql import DbTarget, as_target, open_db

log = logging.getLogger(__name__)
_COLUMNS = "ts, actor, actor_kind, role, method, path, status, client, detail"
_NAMES = ("id", *_COLUMNS.split(", "))
_DAY = 86400.0


@dataclass(frozen=True)
class AuditEntry:
    """Who (actor, actor_kind, role), what (method, path, status, detail), when (ts), from
    where (client). Never a body, never a query string."""

    ts: float
    actor: str
    actor_kind: str
    role: str
    method: str
    path: str
    status: int
    client: str
    detail: str


@dataclass(frozen=True)
class StoredAuditEntry(AuditEntry):
    id: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class AuditStore:
    def __init__(self, db: DbTarget | Path) -> None:
        self._conn = open_db(as_target(db))
        self._lock = threading.Lock()

    def append(self, entries: list[AuditEntry]) -> None:
        """Store entries in one transaction."""
        rows = [
            (
                e.ts,
                e.actor,
                e.actor_kind,
                e.role,
                e.method,
                e.path,
                e.status,
                e.client,
                e.detail,
            )
            for e in entries
        ]
        with self._lock, self._conn.transaction():
            self._conn.executemany(
                f"INSERT INTO audit({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)", rows
            )

    def query(
        self,
        *,
        limit: int = 100,
        before_id: int | None = None,
        actor: str = "",
        path: str = "",
    ) -> list[StoredAuditEntry]:
        """Newest first; ``actor`` matches the name exactly, ``path`` is a prefix."""
        where: list[str] = []
        args: list[Any] = []
        if before_id is not None:
            where.append("id < ?")
            args.append(before_id)
        if actor:
            where.append("actor = ?")
            args.append(actor)
        if path:
            where.append("substr(path, 1, ?) = ?")
            args.extend([len(path), path])
        sql = f"SELECT id, {_COLUMNS} FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        with self._lock:
            rows = self._conn.execute(sql, [*args, limit]).fetchall()
        return [StoredAuditEntry(**dict(zip(_NAMES, row, strict=True))) for row in rows]

    def prune(self, before: float) -> int:
        """Delete entries older than ``before`` (unix seconds); return how many."""
        with self._lock:
            return self._conn.execute("DELETE FROM audit WHERE ts < ?", (before,)).rowcount

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class AuditWriter:
    """Batches entries on the event loop and writes them off it."""

    def __init__(
        self,
        store: AuditStore,
        *,
        retention_days: float,
        interval_s: float = 0.25,
        prune_every_s: float = 3600.0,
        max_pending: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.retention_s = retention_days * _DAY
        self.interval_s = interval_s
        self.prune_every_s = prune_every_s
        self.max_pending = max_pending
        self.clock = clock
        self.dropped = 0
        self._pending: list[AuditEntry] = []
        self._last_prune = 0.0
        self._write_lock = asyncio.Lock()

    def record(self, entry: AuditEntry) -> None:
        """Queue an entry (never blocks). Past ``max_pending`` unwritten entries (the disk is
        stuck), new ones are counted in ``dropped`` and logged, not held without bound."""
        if len(self._pending) >= self.max_pending:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.warning("audit log is not being written; %d entries dropped", self.dropped)
            return
        self._pending.append(entry)

    async def flush(self) -> None:
        """Write every queued entry now (and prune, when due), on a worker thread."""
        async with self._write_lock:
            batch, self._pending = self._pending, []
            now = self.clock()
            prune = now - self._last_prune >= self.prune_every_s
            if not batch and not prune:
                return
            try:
                await asyncio.to_thread(self._write, batch, now - self.retention_s if prune else 0)
            except Exception:
                log.exception("could not write %d audit entries", len(batch))
                self._pending[:0] = batch[: self.max_pending]  # try again next time
                return
            if prune:
                self._last_prune = now

    def _write(self, batch: list[AuditEntry], prune_before: float) -> None:
        if batch:
            self.store.append(batch)
        if prune_before:
            self.store.prune(prune_before)

    def flush_sync(self) -> None:
        """Write what is queued from the calling thread (shutdown, after the loop's tasks
        have stopped)."""
        batch, self._pending = self._pending, []
        if batch:
            self.store.append(batch)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.flush()
