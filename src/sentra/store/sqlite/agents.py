"""Remote agents the server has heard from, kept in the ``meta`` table (``agent:<id>``).

One JSON value per agent: what its last heartbeat said plus the server's own times
(first seen, last seen). Reads come from memory (loaded at start); a heartbeat is written
through when the agent is new or its record was last written ``persist_every_s`` ago, so
50 agents beating every few seconds cost a handful of small commits, and a restart of
the server loses at most that much of "last seen". Portable SQL (``?`` placeholders,
``INSERT … ON CONFLICT``) only: the same statements run on PostgreSQL.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import msgspec

from sentra.store.sql import Db, DbTarget, as_target, open_db

PREFIX = "agent:"
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, Any]).decode
_UPSERT = (
    "INSERT INTO meta(key, value) VALUES (?, ?) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value"
)


class AgentStore:
    def __init__(self, db: DbTarget | Path, *, persist_every_s: float = 30.0) -> None:
        self._conn: Db = open_db(as_target(db))
        self._lock = threading.Lock()
        self.persist_every_s = persist_every_s
        self._agents: dict[str, dict[str, Any]] = {}
        self._written: dict[str, float] = {}
        # The keys from "agent:" up to "agent;" (';' follows ':'): a range an index serves.
        rows = self._conn.execute(
            "SELECT key, value FROM meta WHERE key >= ? AND key < ?", (PREFIX, PREFIX[:-1] + ";")
        ).fetchall()
        for key, value in rows:
            try:
                self._agents[key[len(PREFIX) :]] = _decode(value)
            except msgspec.DecodeError:
                continue  # a damaged record: the next heartbeat writes it again

    def close(self) -> None:
        self._conn.close()

    def heartbeat(self, report: dict[str, Any], now: float) -> dict[str, Any]:
        """Record what an agent reported (``report['id']`` names it); return its record."""
        agent_id = str(report["id"])
        with self._lock:
            before = self._agents.get(agent_id, {})
            record = {
                **report,
                "first_seen": before.get("first_seen", now),
                "last_seen": now,
                "heartbeats": int(before.get("heartbeats", 0)) + 1,
            }
            self._agents[agent_id] = record
            if now - self._written.get(agent_id, -1e18) >= self.persist_every_s:
                self._conn.execute(_UPSERT, (PREFIX + agent_id, _encode(record).decode()))
                self._written[agent_id] = now
        return record

    def all(self) -> list[dict[str, Any]]:
        """Every agent's record, by id."""
        with self._lock:
            return [dict(self._agents[k]) for k in sorted(self._agents)]

    def delete(self, agent_id: str) -> bool:
        with self._lock:
            self._written.pop(agent_id, None)
            self._conn.execute("DELETE FROM meta WHERE key = ?", (PREFIX + agent_id,))
            return self._agents.pop(agent_id, None) is not None

    def flush(self) -> None:
        """Write every record (on shutdown), so last-seen survives a clean restart exactly."""
        with self._lock:
            for agent_id, record in self._agents.items():
                self._conn.execute(_UPSERT, (PREFIX + agent_id, _encode(record).decode()))
