"""Parse ``wg show all dump``: one line per interface, then one per peer (tab-separated).

Interface line: name, private key, public key, listen port, fwmark.
Peer line: name, public key, preshared key, endpoint, allowed ips, latest handshake (unix s,
0 = never), rx bytes, tx bytes, persistent keepalive. The interface's private key is
dropped here and never held.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class PeerDump:
    public_key: str
    endpoint: str | None
    allowed_ips: tuple[str, ...]
    latest_handshake: float | None
    rx_bytes: int
    tx_bytes: int


@dataclass
class InterfaceDump:
    name: str
    public_key: str
    listen_port: int | None
    peers: dict[str, PeerDump] = field(default_factory=dict)


def _none(value: str) -> str | None:
    return None if value in ("(none)", "") else value


def parse_dump(text: str) -> dict[str, InterfaceDump]:
    """Interfaces by name. Lines that do not fit the format are skipped (a line being
    written while an interface goes away must not lose the others)."""
    out: dict[str, InterfaceDump] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 5:
            port = parts[3]
            out[parts[0]] = InterfaceDump(
                parts[0], parts[2], int(port) if port.isdigit() and port != "0" else None
            )
        elif len(parts) == 9:
            iface = out.get(parts[0])
            if iface is None or not parts[5].isdigit():
                continue
            if not (parts[6].isdigit() and parts[7].isdigit()):
                continue
            hs = int(parts[5])
            allowed = _none(parts[4])
            iface.peers[parts[1]] = PeerDump(
                public_key=parts[1],
                endpoint=_none(parts[3]),
                allowed_ips=tuple(allowed.split(",")) if allowed else (),
                latest_handshake=float(hs) if hs else None,
                rx_bytes=int(parts[6]),
                tx_bytes=int(parts[7]),
            )
    return out
