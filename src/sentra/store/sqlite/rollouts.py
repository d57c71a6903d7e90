"""Rollouts and their decisions in the node's database (SQLite or PostgreSQL).

A rollout's state and the decisions of one transition are written in one transaction, so
after ``kill -9`` the database holds either the state before a transition or the state
after it *with* its decisions: never a step without its record, never a record without
its step. Decisions are kept until the user deletes the rollout.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from sentra.store.sql import DbTarget, as_target, open_db

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode


@dataclass(frozen=True)
class StoredRollout:
    name: str
    spec_json: str
    spec_yaml: str
    state: dict[str, Any]
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class StoredDecision:
    id: int
    rollout: str
    ts: float
    kind: str
    from_phase: str
    to_phase: str
    step_index: int
    weights: dict[str, int]
    actor: str
    reason: str
    evidence: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ts": self.ts,
            "rollout": self.rollout,
            "kind": self.kind,
            "from_phase": self.from_phase,
            "to_phase": self.to_phase,
            "step_index": self.step_index,
            "weights": self.weights,
            "actor": self.actor,
            "reason": self.reason,
            "evidence": self.evidence,
        }


class RolloutExists(ValueError):
    """A rollout of that name is already running."""


class StaleRollout(RuntimeError):
    """The rollout's row changed since the caller read it (another node acted on it)."""


class RolloutStore:
    def __init__(self, db: DbTarget | Path, *, readonly: bool = False) -> None:
        self._db = open_db(as_target(db, readonly=readonly), readonly=readonly)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def create(
        self,
        name: str,
        spec_json: str,
        spec_yaml: str,
        state: Mapping[str, Any],
        now: float,
        *,
        replace_finished: bool = True,
        active_phases: Iterable[str] = (),
    ) -> None:
        """Store a new rollout. An existing one of that name is replaced only when it has
        finished (its decisions go with it); a running one raises RolloutExists."""
        with self._lock, self._db.transaction():
            row = self._db.execute("SELECT phase FROM rollouts WHERE name = ?", (name,)).fetchone()
            if row is not None:
                if not replace_finished or row[0] in set(active_phases):
                    raise RolloutExists(
                        f"rollout {name!r} is {row[0]}: abort it or wait for it to finish "
                        "before applying a new spec under the same name"
                    )
                self._db.execute("DELETE FROM rollouts WHERE name = ?", (name,))
            self._db.execute(
                "INSERT INTO rollouts(name, spec_json, spec_yaml, state_json, phase,"
                " created_at, updated_at) VALUES (?,?,?,?,?,?,?)",
                (name, spec_json, spec_yaml, _encode(state).decode(), state["phase"], now, now),
            )

    def save(
        self,
        name: str,
        state: Mapping[str, Any],
        decisions: Iterable[Mapping[str, Any]],
        now: float,
        *,
        expect_updated_at: float | None = None,
    ) -> list[StoredDecision]:
        """Write the new state and its decisions in one transaction; return the decisions
        with their ids. With ``expect_updated_at`` the write happens only if the row still
        has that ``updated_at`` (else ``StaleRollout``, nothing written): the fence that
        keeps two nodes from both taking a step."""
        out: list[StoredDecision] = []
        with self._lock, self._db.transaction():
            sql = "UPDATE rollouts SET state_json = ?, phase = ?, updated_at = ? WHERE name = ?"
            args: tuple[Any, ...] = (_encode(state).decode(), state["phase"], now, name)
            if expect_updated_at is not None:
                sql, args = sql + " AND updated_at = ?", (*args, expect_updated_at)
            cur = self._db.execute(sql, args)
            if expect_updated_at is not None and cur.rowcount == 0:
                raise StaleRollout(f"rollout {name!r} was changed by another node")
            for d in decisions:
                (decision_id,) = self._db.execute(
                    "INSERT INTO decisions(rollout, ts, kind, from_phase, to_phase, step_index,"
                    " weights, actor, reason, evidence) VALUES (?,?,?,?,?,?,?,?,?,?) RETURNING id",
                    (
                        name,
                        now,
                        d["kind"],
                        d["from_phase"],
                        d["to_phase"],
                        d["step_index"],
                        _encode(d["weights"]).decode(),
                        d["actor"],
                        d["reason"],
                        _encode(d.get("evidence", {})).decode(),
                    ),
                ).fetchone()
                out.append(
                    StoredDecision(
                        id=int(decision_id),
                        rollout=name,
                        ts=now,
                        kind=d["kind"],
                        from_phase=d["from_phase"],
                        to_phase=d["to_phase"],
                        step_index=d["step_index"],
                        weights=dict(d["weights"]),
                        actor=d["actor"],
                        reason=d["reason"],
                        evidence=dict(d.get("evidence", {})),
                    )
                )
        return out

    def get(self, name: str) -> StoredRollout | None:
        with self._lock:
            row = self._db.execute(
                "SELECT name, spec_json, spec_yaml, state_json, created_at, updated_at "
                "FROM rollouts WHERE name = ?",
                (name,),
            ).fetchone()
        return _rollout(row) if row else None

    def all(self) -> list[StoredRollout]:
        with self._lock:
            rows = self._db.execute(
                "SELECT name, spec_json, spec_yaml, state_json, created_at, updated_at "
                "FROM rollouts ORDER BY updated_at DESC"
            ).fetchall()
        return [_rollout(r) for r in rows]

    def versions(self) -> dict[str, tuple[float, str]]:
        """Every rollout's ``(updated_at, phase)``: what a node polling for changes made by
        other nodes reads each second, without the specs and states."""
        with self._lock:
            rows = self._db.execute("SELECT name, updated_at, phase FROM rollouts").fetchall()
        return {name: (float(at), str(phase)) for name, at, phase in rows}

    def decisions(
        self, name: str, *, limit: int = 100, before_id: int | None = None
    ) -> list[StoredDecision]:
        """Newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, rollout, ts, kind, from_phase, to_phase, step_index, weights, actor,"
                " reason, evidence FROM decisions WHERE rollout = ? AND id < ? "
                "ORDER BY id DESC LIMIT ?",
                (name, before_id if before_id is not None else 2**62, limit),
            ).fetchall()
        return [_decision(r) for r in rows]

    def delete(self, name: str) -> bool:
        with self._lock, self._db.transaction():
            n = self._db.execute("DELETE FROM rollouts WHERE name = ?", (name,)).rowcount
            self._db.execute("DELETE FROM decisions WHERE rollout = ?", (name,))
        return n > 0


def _rollout(row: tuple[Any, ...]) -> StoredRollout:
    return StoredRollout(
        name=row[0],
        spec_json=row[1],
        spec_yaml=row[2],
        state=_decode(row[3]),
        created_at=row[4],
        updated_at=row[5],
    )


def _decision(r: tuple[Any, ...]) -> StoredDecision:
    return StoredDecision(
        id=r[0],
        rollout=r[1],
        ts=r[2],
        kind=r[3],
        from_phase=r[4],
        to_phase=r[5],
        step_index=r[6],
        weights=_decode(r[7]),
        actor=r[8],
        reason=r[9],
        evidence=_decode(r[10]),
    )
