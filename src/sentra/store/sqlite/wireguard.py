"""WireGuard interfaces, peers, traffic counters, endpoint history and one-time links.

Secrets arrive here already encrypted (``wireguard/keys.py``). The counters table keeps,
per peer, the accumulated totals and the last raw counters seen, so totals carry on across
restarts of the interface (counters reset) and of the node. Link codes are kept as SHA-256
hashes; redeeming one is a single conditional UPDATE, so a link works exactly once even
when two requests race for it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from sentra.store.sql import Db, DbTarget, IntegrityError, as_target, open_db
from sentra.wireguard.model import Interface, Peer

_enc = msgspec.json.Encoder().encode


def _j(value: list[str]) -> str:
    return _enc(value).decode()


def _l(text: str) -> list[str]:
    out: list[str] = msgspec.json.decode(text, type=list[str])
    return out


_IFACE_COLS = (
    "name, addresses, listen_port, public_key, private_key_enc, dns, mtu, endpoint,"
    " client_allowed_ips, persistent_keepalive, netns, created_at, updated_at"
)
_PEER_COLS = (
    "id, interface, name, public_key, addresses, allowed_ips, extra_routes, enabled,"
    " expires_at, created_at, updated_at, private_key_enc, preshared_key_enc"
)


def _iface(row: tuple[Any, ...]) -> Interface:
    return Interface(
        name=row[0],
        addresses=_l(row[1]),
        listen_port=row[2],
        public_key=row[3],
        private_key_enc=row[4],
        dns=_l(row[5]),
        mtu=row[6],
        endpoint=row[7],
        client_allowed_ips=_l(row[8]),
        persistent_keepalive=row[9],
        netns=row[10],
        created_at=row[11],
        updated_at=row[12],
    )


def _iface_row(i: Interface) -> tuple[Any, ...]:
    return (
        i.name,
        _j(i.addresses),
        i.listen_port,
        i.public_key,
        i.private_key_enc,
        _j(i.dns),
        i.mtu,
        i.endpoint,
        _j(i.client_allowed_ips),
        i.persistent_keepalive,
        i.netns,
        i.created_at,
        i.updated_at,
    )


def _peer(row: tuple[Any, ...]) -> Peer:
    return Peer(
        id=row[0],
        interface=row[1],
        name=row[2],
        public_key=row[3],
        addresses=_l(row[4]),
        allowed_ips=_l(row[5]),
        extra_routes=_l(row[6]),
        enabled=bool(row[7]),
        expires_at=row[8],
        created_at=row[9],
        updated_at=row[10],
        private_key_enc=row[11],
        preshared_key_enc=row[12],
    )


def _peer_row(p: Peer) -> tuple[Any, ...]:
    return (
        p.id,
        p.interface,
        p.name,
        p.public_key,
        _j(p.addresses),
        _j(p.allowed_ips),
        _j(p.extra_routes),
        int(p.enabled),
        p.expires_at,
        p.created_at,
        p.updated_at,
        p.private_key_enc,
        p.preshared_key_enc,
    )


@dataclass
class Counter:
    """A peer's traffic bookkeeping: totals, and the raw counters of the last poll."""

    rx_total: int = 0
    tx_total: int = 0
    last_rx: int = 0
    last_tx: int = 0
    endpoint: str | None = None


@dataclass(frozen=True)
class EndpointChange:
    ts: float
    endpoint: str
    previous: str | None


class Conflict(ValueError):
    """A name or key that is already taken."""


class WgStore:
    """Thread-safe (one lock): the API uses it on the loop, the poller from a worker."""

    def __init__(self, db: DbTarget | Path) -> None:
        self._conn = open_db(as_target(db))
        self._lock = threading.Lock()
        # Bumped by every change of interfaces or peers (not by counters or links), so the
        # poller re-reads the configuration only when it changed.
        self.revision = 0

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _tx(self, *, config: bool = True) -> Iterator[Db]:
        with self._lock:
            with self._conn.transaction():
                yield self._conn
            if config:
                self.revision += 1

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    # ------------------------------------------------------------------ interfaces

    def interfaces(self) -> list[Interface]:
        return [
            _iface(r) for r in self._all(f"SELECT {_IFACE_COLS} FROM wg_interfaces ORDER BY name")
        ]

    def interface(self, name: str) -> Interface | None:
        rows = self._all(f"SELECT {_IFACE_COLS} FROM wg_interfaces WHERE name = ?", (name,))
        return _iface(rows[0]) if rows else None

    def add_interface(self, iface: Interface, peers: Iterable[Peer] = ()) -> None:
        """Store a new interface (and, when adopted, its peers) in one transaction."""
        marks = ",".join("?" * 13)
        try:
            with self._tx() as c:
                c.execute(
                    f"INSERT INTO wg_interfaces({_IFACE_COLS}) VALUES ({marks})", _iface_row(iface)
                )
                for p in peers:
                    c.execute(f"INSERT INTO wg_peers({_PEER_COLS}) VALUES ({marks})", _peer_row(p))
        except IntegrityError as exc:
            raise Conflict(f"an interface named {iface.name!r} exists already ({exc})") from None

    def update_interface(self, iface: Interface) -> None:
        sets = ", ".join(f"{c.strip()} = ?" for c in _IFACE_COLS.split(",")[1:])
        with self._tx() as c:
            c.execute(
                f"UPDATE wg_interfaces SET {sets} WHERE name = ?",
                (*_iface_row(iface)[1:], iface.name),
            )

    def delete_interface(self, name: str) -> bool:
        with self._tx() as c:
            ids = [r[0] for r in c.execute("SELECT id FROM wg_peers WHERE interface = ?", (name,))]
            for pid in ids:
                self._delete_peer_rows(c, pid)
            return c.execute("DELETE FROM wg_interfaces WHERE name = ?", (name,)).rowcount > 0

    # ------------------------------------------------------------------ peers

    def peers(self, interface: str | None = None) -> list[Peer]:
        if interface is None:
            rows = self._all(
                f"SELECT {_PEER_COLS} FROM wg_peers ORDER BY interface, created_at, id"
            )
        else:
            rows = self._all(
                f"SELECT {_PEER_COLS} FROM wg_peers WHERE interface = ? ORDER BY created_at, id",
                (interface,),
            )
        return [_peer(r) for r in rows]

    def peer(self, peer_id: str) -> Peer | None:
        rows = self._all(f"SELECT {_PEER_COLS} FROM wg_peers WHERE id = ?", (peer_id,))
        return _peer(rows[0]) if rows else None

    def peer_counts(self) -> dict[str, int]:
        return dict(self._all("SELECT interface, count(*) FROM wg_peers GROUP BY interface"))

    def add_peer(self, peer: Peer) -> None:
        marks = ",".join("?" * 13)
        try:
            with self._tx() as c:
                c.execute(f"INSERT INTO wg_peers({_PEER_COLS}) VALUES ({marks})", _peer_row(peer))
        except IntegrityError:
            raise Conflict(
                f"interface {peer.interface!r} has a peer with this public key already"
            ) from None

    def update_peer(self, peer: Peer) -> None:
        sets = ", ".join(f"{c.strip()} = ?" for c in _PEER_COLS.split(",")[1:])
        try:
            with self._tx() as c:
                c.execute(
                    f"UPDATE wg_peers SET {sets} WHERE id = ?", (*_peer_row(peer)[1:], peer.id)
                )
        except IntegrityError:
            raise Conflict("another peer of this interface has that public key") from None

    def delete_peer(self, peer_id: str) -> bool:
        with self._tx() as c:
            return self._delete_peer_rows(c, peer_id)

    @staticmethod
    def _delete_peer_rows(c: Db, peer_id: str) -> bool:
        for table in ("wg_counters", "wg_endpoints", "wg_links"):
            c.execute(f"DELETE FROM {table} WHERE peer_id = ?", (peer_id,))
        return c.execute("DELETE FROM wg_peers WHERE id = ?", (peer_id,)).rowcount > 0

    # ------------------------------------------------------------------ counters, endpoints

    def counters(self) -> dict[str, Counter]:
        rows = self._all(
            "SELECT peer_id, rx_total, tx_total, last_rx, last_tx, endpoint FROM wg_counters"
        )
        return {r[0]: Counter(r[1], r[2], r[3], r[4], r[5]) for r in rows}

    def save_counters(
        self,
        counters: Iterable[tuple[str, Counter]],
        endpoint_changes: Iterable[tuple[str, float, str]],
        now: float,
    ) -> None:
        """One transaction per poll: the counters of every peer seen, the endpoint changes."""
        with self._tx(config=False) as c:
            c.executemany(
                "INSERT INTO wg_counters(peer_id, rx_total, tx_total, last_rx, last_tx, endpoint,"
                " updated_at) VALUES (?,?,?,?,?,?,?) ON CONFLICT(peer_id) DO UPDATE SET"
                " rx_total = excluded.rx_total, tx_total = excluded.tx_total,"
                " last_rx = excluded.last_rx, last_tx = excluded.last_tx,"
                " endpoint = excluded.endpoint, updated_at = excluded.updated_at"
                " WHERE EXISTS (SELECT 1 FROM wg_peers WHERE id = excluded.peer_id)",
                [
                    (pid, k.rx_total, k.tx_total, k.last_rx, k.last_tx, k.endpoint, now)
                    for pid, k in counters
                ],
            )
            c.executemany(
                "INSERT INTO wg_endpoints(peer_id, ts, endpoint) SELECT ?, ?, ?"
                " WHERE EXISTS (SELECT 1 FROM wg_peers WHERE id = ?)",
                [(pid, ts, ep, pid) for pid, ts, ep in endpoint_changes],
            )

    def endpoints(self, peer_id: str, limit: int = 100) -> list[EndpointChange]:
        rows = self._all(
            "SELECT ts, endpoint FROM wg_endpoints WHERE peer_id = ? ORDER BY id DESC LIMIT ?",
            (peer_id, limit + 1),
        )
        return [
            EndpointChange(ts, ep, rows[i + 1][1] if i + 1 < len(rows) else None)
            for i, (ts, ep) in enumerate(rows[:limit])
        ]

    # ------------------------------------------------------------------ one-time links

    def add_link(self, code_hash: str, peer_id: str, now: float, expires_at: float) -> None:
        with self._tx(config=False) as c:
            c.execute(
                "DELETE FROM wg_links WHERE expires_at < ? OR used_at IS NOT NULL", (now - 86400,)
            )
            c.execute(
                "INSERT INTO wg_links(code_hash, peer_id, created_at, expires_at) VALUES (?,?,?,?)",
                (code_hash, peer_id, now, expires_at),
            )

    def redeem_link(self, code_hash: str, now: float) -> str | None:
        """The link's peer id, once: the first redeemer marks it used."""
        with self._tx(config=False) as c:
            row = c.execute(
                "UPDATE wg_links SET used_at = ? WHERE code_hash = ? AND used_at IS NULL"
                " AND expires_at > ? RETURNING peer_id",
                (now, code_hash, now),
            ).fetchone()
        return None if row is None else str(row[0])
