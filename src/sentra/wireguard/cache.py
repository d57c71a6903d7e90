"""The WireGuard status cache: the latest reading of every peer and interface.

Fed by the ``wg.status.>`` bus topics; the API and /metrics read only from here, so a slow
``wg`` call never reaches a request. The JSON of ``GET /api/v1/wg/status`` is encoded once
per change and served as bytes.
"""

from __future__ import annotations

from typing import Any

import msgspec

from sentra.bus.base import Subscription
from sentra.wireguard.model import InterfaceStatus, PeerStatus

_encode = msgspec.json.Encoder().encode


def empty_status(totals: tuple[int, int] = (0, 0)) -> dict[str, Any]:
    return {
        "online": False,
        "endpoint": None,
        "latest_handshake": None,
        "rx_bytes": 0,
        "tx_bytes": 0,
        "rx_total": totals[0],
        "tx_total": totals[1],
        "rx_rate": 0.0,
        "tx_rate": 0.0,
    }


def peer_json(s: PeerStatus) -> dict[str, Any]:
    return {
        "online": s.online,
        "endpoint": s.endpoint,
        "latest_handshake": s.latest_handshake,
        "rx_bytes": s.rx_bytes,
        "tx_bytes": s.tx_bytes,
        "rx_total": s.rx_total,
        "tx_total": s.tx_total,
        "rx_rate": s.rx_rate,
        "tx_rate": s.tx_rate,
    }


class _StatusPeer(msgspec.Struct):
    id: str
    public_key: str
    online: bool
    endpoint: str | None
    latest_handshake: float | None
    rx_total: int
    tx_total: int
    rx_rate: float
    tx_rate: float


class WgStatusCache:
    def __init__(self) -> None:
        self._peers: dict[str, PeerStatus] = {}
        self._ifaces: dict[str, InterfaceStatus] = {}
        self._fragments: dict[str, bytes] = {}  # each peer's status JSON, encoded on arrival
        self._encoded: bytes | None = None
        self.ts = 0.0
        self.updates = 0

    def apply(self, event: object) -> None:
        if isinstance(event, PeerStatus):
            self._peers[event.peer_id] = event
            self._fragments[event.peer_id] = _encode(
                _StatusPeer(
                    event.peer_id,
                    event.public_key,
                    event.online,
                    event.endpoint,
                    event.latest_handshake,
                    event.rx_total,
                    event.tx_total,
                    event.rx_rate,
                    event.tx_rate,
                )
            )
        elif isinstance(event, InterfaceStatus):
            self._ifaces[event.source] = event
        else:
            return
        self.ts = max(self.ts, event.ts)
        self._encoded = None
        self.updates += 1

    def forget_peer(self, peer_id: str) -> None:
        self._fragments.pop(peer_id, None)
        if self._peers.pop(peer_id, None) is not None:
            self._encoded = None

    def forget_interface(self, name: str) -> None:
        self._ifaces.pop(name, None)
        for pid in [p for p, s in self._peers.items() if s.source == name]:
            del self._peers[pid]
            self._fragments.pop(pid, None)
        self._encoded = None

    def mark(self, name: str, up: bool, ts: float) -> None:
        """Record an interface's state as learnt from an apply (before the next poll)."""
        prev = self._ifaces.get(name)
        self._ifaces[name] = InterfaceStatus(
            source=name,
            ts=ts,
            up=up,
            listen_port=prev.listen_port if prev else None,
            peers=prev.peers if prev else 0,
        )
        self._encoded = None

    def peer(self, peer_id: str) -> PeerStatus | None:
        return self._peers.get(peer_id)

    def peer_status(self, peer_id: str) -> dict[str, Any]:
        s = self._peers.get(peer_id)
        return empty_status() if s is None else peer_json(s)

    def interface(self, name: str) -> InterfaceStatus | None:
        return self._ifaces.get(name)

    def peers(self) -> list[PeerStatus]:
        return list(self._peers.values())

    def status(self) -> dict[str, Any]:
        by_iface: dict[str, list[dict[str, Any]]] = {n: [] for n in sorted(self._ifaces)}
        for s in self._peers.values():
            by_iface.setdefault(s.source, []).append(
                {
                    "id": s.peer_id,
                    "public_key": s.public_key,
                    "online": s.online,
                    "endpoint": s.endpoint,
                    "latest_handshake": s.latest_handshake,
                    "rx_total": s.rx_total,
                    "tx_total": s.tx_total,
                    "rx_rate": s.rx_rate,
                    "tx_rate": s.tx_rate,
                }
            )
        interfaces = []
        for name in sorted(by_iface):
            st = self._ifaces.get(name)
            interfaces.append(
                {
                    "name": name,
                    "up": bool(st and st.up),
                    "error": st.error if st else "",
                    "peers": by_iface[name],
                }
            )
        return {"ts": self.ts, "interfaces": interfaces}

    def status_bytes(self) -> bytes:
        """``status()`` as JSON, joined from the per-peer fragments (no re-encoding of
        1,000 peers after every poll: bench/wg_status.py)."""
        if self._encoded is None:
            by_iface: dict[str, list[bytes]] = {n: [] for n in self._ifaces}
            for pid, s in self._peers.items():
                by_iface.setdefault(s.source, []).append(self._fragments[pid])
            parts = []
            for name in sorted(by_iface):
                st = self._ifaces.get(name)
                head = _encode(
                    {"name": name, "up": bool(st and st.up), "error": st.error if st else ""}
                )
                parts.append(head[:-1] + b',"peers":[' + b",".join(by_iface[name]) + b"]}")
            self._encoded = b'{"ts":%s,"interfaces":[%s]}' % (_encode(self.ts), b",".join(parts))
        return self._encoded

    async def run(self, sub: Subscription) -> None:
        async for _topic, event in sub:
            self.apply(event)
