"""Who may act on a rollout: one controller at a time, across every node.

A node on SQLite is alone, so it always holds every lease (``SoloLeases``). Nodes that share
a PostgreSQL database elect, per rollout, the one that acts with a session-level advisory
lock (``PgLeases``): ``pg_try_advisory_lock`` on a dedicated connection. PostgreSQL drops the
locks of a session whose connection ends, so when the leader dies (even ``kill -9``: the
kernel closes its socket) another node's next try wins, without a lease timeout to wait
out. A leader that merely *loses* its connection stops acting at its next check, and the
rollout store's conditional update (``RolloutStore.save(expect_updated_at=…)``) fences any
write it was about to make, so two nodes never both take a step.
"""

from __future__ import annotations

import logging
import zlib
from typing import Any, Protocol

from sentra.store.sql import DbTarget, Dialect

log = logging.getLogger(__name__)

# pg_try_advisory_lock(int4, int4): the first key names Sentra's rollout leases ("SNTR"),
# the second is the rollout name's CRC-32 as a signed int4. Two names with one CRC share a
# lease, which only means one leader for both.
LOCK_CLASS = 0x534E5452 - 2**32 if 0x534E5452 >= 2**31 else 0x534E5452


def lock_key(name: str) -> int:
    crc = zlib.crc32(name.encode())
    return crc - 2**32 if crc >= 2**31 else crc


class Leases(Protocol):
    shared: bool  # True when other nodes compete for the same rollouts

    async def acquire(self, name: str) -> bool:
        """Hold the lease of ``name`` (True) or learn that another node does (False)."""

    def holds(self, name: str) -> bool: ...

    async def release(self, name: str) -> None: ...

    async def check(self) -> None:
        """Confirm the leases are still held; forget them all when they cannot be."""

    async def close(self) -> None: ...


class SoloLeases:
    """The single node: every lease is always ours."""

    shared = False

    async def acquire(self, name: str) -> bool:
        return True

    def holds(self, name: str) -> bool:
        return True

    async def release(self, name: str) -> None:
        return None

    async def check(self) -> None:
        return None

    async def close(self) -> None:
        return None


class PgLeases:
    """Advisory locks on one dedicated PostgreSQL session (see the module docstring)."""

    shared = True

    def __init__(self, dsn: str, *, connect_timeout_s: float = 5.0) -> None:
        self._dsn = dsn
        self._timeout = connect_timeout_s
        self._conn: Any = None
        self._held: set[str] = set()
        self.acquired = 0  # leases won (counting re-wins after a loss)
        self.lost = 0  # leases forgotten because the session ended

    async def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            import psycopg  # imported here: only a node on PostgreSQL needs it

            self._forget()
            self._conn = await psycopg.AsyncConnection.connect(
                self._dsn,
                autocommit=True,
                connect_timeout=max(1, round(self._timeout)),
                application_name="sentra-leases",
            )
        return self._conn

    def _forget(self) -> None:
        if self._held:
            log.warning("rollout leases lost with their session: %s", ", ".join(self._held))
            self.lost += len(self._held)
            self._held.clear()

    async def acquire(self, name: str) -> bool:
        if name in self._held:
            return True
        try:
            conn = await self._connection()
            cur = await conn.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, lock_key(name))
            )
            row = await cur.fetchone()
        except Exception as exc:  # the database is away: nobody here may act
            log.warning("rollout lease for %s: %s", name, exc)
            await self._drop()
            return False
        if row is not None and row[0]:
            self._held.add(name)
            self.acquired += 1
            log.info("rollout %s: this node now leads it", name)
            return True
        return False

    def holds(self, name: str) -> bool:
        return name in self._held

    async def release(self, name: str) -> None:
        if name not in self._held:
            return
        self._held.discard(name)
        try:
            conn = await self._connection()
            await conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_CLASS, lock_key(name)))
        except Exception as exc:
            log.warning("rollout lease for %s not released cleanly: %s", name, exc)
            await self._drop()

    async def check(self) -> None:
        if not self._held:
            return
        try:
            conn = await self._connection()
            await conn.execute("SELECT 1")
        except Exception as exc:
            log.warning("rollout lease session failed: %s", exc)
            await self._drop()

    async def _drop(self) -> None:
        self._forget()
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:  # closing a broken connection: nothing more to do
                log.debug("closing the lease connection failed", exc_info=True)

    async def close(self) -> None:
        self._held.clear()
        await self._drop()


def leases_for(target: DbTarget) -> Leases:
    """Solo on SQLite (one node per file); advisory locks on a shared PostgreSQL."""
    if target.dialect == Dialect.POSTGRES:
        return PgLeases(target.dsn)
    return SoloLeases()
