"""Render WireGuard configs and read existing ones (pure: keys are passed in decrypted).

* :func:`render_server` is the wg-quick file of an interface (``wg-quick up`` brings it up);
* :func:`render_sync` is the same without wg-quick's keys (what ``wg-quick strip`` prints),
  the input of ``wg syncconf``, which changes only the peers that differ;
* :func:`render_client` is a peer's wg-quick file (download, QR code);
* :func:`parse_conf` reads a ``wg0.conf`` for adoption.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sentra.wireguard import model
from sentra.wireguard.keys import valid_key
from sentra.wireguard.model import Interface, Invalid, Peer

# The keys wg(8) understands; the rest of a wg-quick file is wg-quick's (Address, DNS, MTU…).
_WG_INTERFACE_KEYS = ("privatekey", "listenport", "fwmark")
_HEADER = "# Rendered by Sentra; changes made here are overwritten on the next apply.\n"


@dataclass(frozen=True)
class ServerPeer:
    """What the server's config holds of one peer."""

    name: str
    public_key: str
    allowed_ips: list[str]
    preshared_key: str | None = field(default=None, repr=False)


def server_peers(
    peers: Iterable[Peer], now: float, psk_of: Callable[[Peer], str | None]
) -> list[ServerPeer]:
    """The active (enabled, unexpired) peers, with their preshared keys decrypted."""
    return [
        ServerPeer(p.name, p.public_key, p.server_allowed_ips(), psk_of(p))
        for p in peers
        if p.active(now)
    ]


def _peer_blocks(peers: Iterable[ServerPeer]) -> list[str]:
    out = []
    for p in peers:
        lines = [f"\n[Peer]\n# {_comment(p.name)}\nPublicKey = {p.public_key}\n"]
        if p.preshared_key:
            lines.append(f"PresharedKey = {p.preshared_key}\n")
        if p.allowed_ips:
            lines.append(f"AllowedIPs = {', '.join(p.allowed_ips)}\n")
        out.append("".join(lines))
    return out


def _comment(text: str) -> str:
    return text.replace("\n", " ").replace("\r", " ")


def render_sync(iface: Interface, private_key: str, peers: Iterable[ServerPeer]) -> str:
    """The ``wg setconf``/``wg syncconf`` file: interface keys wg(8) knows, and the peers."""
    head = f"[Interface]\nPrivateKey = {private_key}\nListenPort = {iface.listen_port}\n"
    return _HEADER + head + "".join(_peer_blocks(peers))


def render_server(iface: Interface, private_key: str, peers: Iterable[ServerPeer]) -> str:
    """The interface's wg-quick file (``wg-quick up <file>``)."""
    head = [f"[Interface]\nAddress = {', '.join(iface.addresses)}\n"]
    head.append(f"PrivateKey = {private_key}\nListenPort = {iface.listen_port}\n")
    if iface.mtu:
        head.append(f"MTU = {iface.mtu}\n")
    return _HEADER + "".join(head) + "".join(_peer_blocks(peers))


def render_client(iface: Interface, peer: Peer, private_key: str, preshared_key: str | None) -> str:
    """A peer's wg-quick file: its key and addresses, the server as its one peer."""
    lines = [f"# {_comment(peer.name)} on {iface.name} (Sentra)\n[Interface]\n"]
    lines.append(f"PrivateKey = {private_key}\nAddress = {', '.join(peer.addresses)}\n")
    if iface.dns:
        lines.append(f"DNS = {', '.join(iface.dns)}\n")
    if iface.mtu:
        lines.append(f"MTU = {iface.mtu}\n")
    lines.append(f"\n[Peer]\nPublicKey = {iface.public_key}\n")
    if preshared_key:
        lines.append(f"PresharedKey = {preshared_key}\n")
    allowed = model.unique([*iface.client_allowed_ips, *peer.extra_routes])
    lines.append(f"AllowedIPs = {', '.join(allowed)}\n")
    if iface.endpoint:
        lines.append(f"Endpoint = {iface.endpoint}\n")
    if iface.persistent_keepalive > 0:
        lines.append(f"PersistentKeepalive = {iface.persistent_keepalive}\n")
    return "".join(lines)


# ----------------------------------------------------------------------------- parsing


@dataclass
class ParsedPeer:
    public_key: str
    name: str = ""
    preshared_key: str | None = field(default=None, repr=False)
    allowed_ips: list[str] = field(default_factory=list)
    endpoint: str = ""


@dataclass
class ParsedConf:
    private_key: str = field(default="", repr=False)
    addresses: list[str] = field(default_factory=list)
    listen_port: int | None = None
    dns: list[str] = field(default_factory=list)
    mtu: int | None = None
    peers: list[ParsedPeer] = field(default_factory=list)


def _values(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def parse_conf(text: str) -> ParsedConf:
    """Read a wg-quick/wg config. Keys are case-insensitive; a ``# name`` comment right after
    ``[Peer]`` (as wg-easy and Sentra write) becomes the peer's name. Raises Invalid with the
    line number of the first problem."""
    conf = ParsedConf()
    section = ""
    peer: ParsedPeer | None = None
    pending_name = ""
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("#"):
            if section == "peer" and peer is not None and not peer.public_key and not pending_name:
                pending_name = line.lstrip("#").strip()
            continue
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        low = line.lower()
        if low in ("[interface]", "[peer]"):
            section = low[1:-1]
            if section == "peer":
                peer = ParsedPeer(public_key="")
                conf.peers.append(peer)
                pending_name = ""
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise Invalid(f"line {lineno}: expected 'Key = value' or a [Section], got {line!r}")
        key = key.strip().lower()
        value = value.strip()
        try:
            if section == "interface":
                _interface_key(conf, key, value)
            elif section == "peer" and peer is not None:
                _peer_key(peer, key, value)
                if pending_name and not peer.name:
                    peer.name = pending_name
            else:
                raise Invalid(f"{key} outside of an [Interface] or [Peer] section")
        except (Invalid, ValueError) as exc:
            raise Invalid(f"line {lineno}: {exc}") from None
    if not conf.private_key:
        raise Invalid("the config has no [Interface] PrivateKey")
    for i, p in enumerate(conf.peers, start=1):
        if not p.public_key:
            raise Invalid(f"[Peer] number {i} has no PublicKey")
    return conf


def _interface_key(conf: ParsedConf, key: str, value: str) -> None:
    if key == "privatekey":
        if not valid_key(value):
            raise Invalid("PrivateKey is not a WireGuard key")
        conf.private_key = value
    elif key == "address":
        conf.addresses += _values(value)
    elif key == "listenport":
        conf.listen_port = int(value)
    elif key == "dns":
        conf.dns += _values(value)
    elif key == "mtu":
        conf.mtu = int(value)
    # Table, PreUp/PostUp/PreDown/PostDown, SaveConfig, FwMark: not adopted (Sentra does not
    # run hook commands from a config file).


def _peer_key(peer: ParsedPeer, key: str, value: str) -> None:
    if key == "publickey":
        if not valid_key(value):
            raise Invalid("PublicKey is not a WireGuard key")
        peer.public_key = value
    elif key == "presharedkey":
        if not valid_key(value):
            raise Invalid("PresharedKey is not a WireGuard key")
        peer.preshared_key = value
    elif key == "allowedips":
        peer.allowed_ips += _values(value)
    elif key == "endpoint":
        peer.endpoint = value


def wg_only(text: str) -> str:
    """What ``wg-quick strip`` prints: the config without wg-quick's own keys."""
    out = []
    section = ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        low = line.lower()
        if low in ("[interface]", "[peer]"):
            section = low
        elif line and section == "[interface]":
            key = line.partition("=")[0].strip().lower()
            if key not in _WG_INTERFACE_KEYS:
                continue
        if line:
            out.append(line)
    return "\n".join(out) + "\n"
