"""Interfaces, peers and their status: plain data and its validation (no I/O, no clock).

Validation turns user input into normalised values or raises :class:`Invalid` with a
message that says what to send instead; the API answers it as a 400.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec

NAME = re.compile(r"^[A-Za-z0-9_=+.-]{1,15}$")
NETNS = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
DEFAULT_CLIENT_ALLOWED = ("0.0.0.0/0", "::/0")


class Invalid(ValueError):
    """Input that cannot be used; the message says how to fix it."""


@dataclass(frozen=True)
class Interface:
    name: str
    addresses: list[str]  # the server's own addresses with the prefix: "10.8.0.1/24"
    listen_port: int
    public_key: str
    private_key_enc: str = field(repr=False)
    dns: list[str] = field(default_factory=list)
    mtu: int | None = None
    endpoint: str = ""  # what clients dial: "vpn.example.com:51820"
    client_allowed_ips: list[str] = field(default_factory=lambda: list(DEFAULT_CLIENT_ALLOWED))
    persistent_keepalive: int = 0  # written into client configs when > 0
    netns: str = ""  # a network namespace to run the interface in ("" = the node's own)
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True)
class Peer:
    id: str
    interface: str
    name: str
    public_key: str
    addresses: list[str]  # the peer's tunnel addresses: "10.8.0.2/32"
    allowed_ips: list[str]  # what the server routes to this peer, beyond ``addresses``
    extra_routes: list[str]  # extra networks the client routes into the tunnel
    enabled: bool
    expires_at: float | None
    created_at: float
    updated_at: float
    private_key_enc: str | None = field(default=None, repr=False)
    preshared_key_enc: str | None = field(default=None, repr=False)

    def active(self, now: float) -> bool:
        """Enabled and not expired: what goes into the server's config."""
        return self.enabled and (self.expires_at is None or self.expires_at > now)

    def server_allowed_ips(self) -> list[str]:
        return unique([*self.addresses, *self.allowed_ips])


class PeerStatus(msgspec.Struct, frozen=True):
    """One peer's reading, published on ``wg.status.<interface>`` once per poll."""

    source: str  # the interface
    ts: float
    peer_id: str
    public_key: str
    online: bool
    endpoint: str | None
    latest_handshake: float | None
    rx_bytes: int  # the interface's counters (reset when it restarts)
    tx_bytes: int
    rx_total: int  # accumulated from deltas: survive restarts of the interface and the node
    tx_total: int
    rx_rate: float  # bytes/s between the last two polls
    tx_rate: float


class InterfaceStatus(msgspec.Struct, frozen=True):
    """An interface's state at a poll: found in ``wg show`` or not."""

    source: str
    ts: float
    up: bool
    listen_port: int | None = None
    peers: int = 0
    error: str = ""


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise Invalid(
            f"interface name {name!r} must be 1-15 characters of letters, digits and _=+.-"
        )
    return name


def check_netns(netns: str) -> str:
    if netns and not NETNS.match(netns):
        raise Invalid(f"netns {netns!r} must be letters, digits and _.- (or empty)")
    return netns


def interface_addresses(values: Iterable[str]) -> list[str]:
    """Host addresses with their prefix ("10.8.0.1/24", "fd00::1/64"), one per family at most
    twice; the network itself is refused (the server needs an address inside it)."""
    out: list[str] = []
    for v in values:
        try:
            iface = ipaddress.ip_interface(v.strip())
        except ValueError:
            raise Invalid(
                f"address {v!r} is not an address with a prefix, e.g. 10.8.0.1/24"
            ) from None
        if iface.network.num_addresses > 1 and iface.ip == iface.network.network_address:
            raise Invalid(
                f"address {v!r} is the network itself; give the server's address in it, e.g. "
                f"{iface.network.network_address + 1}/{iface.network.prefixlen}"
            )
        out.append(str(iface))
    if not out:
        raise Invalid("an interface needs at least one address, e.g. 10.8.0.1/24")
    return unique(out)


def networks(values: Iterable[str], what: str) -> list[str]:
    """CIDR networks ("192.168.5.0/24"); a bare address becomes /32 or /128."""
    out: list[str] = []
    for v in values:
        try:
            out.append(str(ipaddress.ip_network(v.strip(), strict=False)))
        except ValueError:
            raise Invalid(f"{what} {v!r} is not a network such as 192.168.5.0/24") from None
    return unique(out)


def port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise Invalid(f"listen_port {value} must be between 1 and 65535")
    return value


def mtu(value: int | None) -> int | None:
    if value is not None and not 1280 <= value <= 9000:
        raise Invalid(f"mtu {value} must be between 1280 and 9000 (or null for automatic)")
    return value


def dns(values: Iterable[str]) -> list[str]:
    out = []
    for v in values:
        v = v.strip()
        if not v or any(c in v for c in " ,\n\r\t="):
            raise Invalid(f"dns entry {v!r} must be one address or search domain")
        out.append(v)
    return unique(out)


def endpoint(value: str) -> str:
    value = value.strip()
    if not value:
        return ""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise Invalid(
            f"endpoint {value!r} must be host:port, e.g. vpn.example.com:51820 or "
            "[2001:db8::1]:51820"
        )
    if any(c in value for c in " \n\r\t,"):
        raise Invalid(f"endpoint {value!r} must not contain spaces or commas")
    return value


def peer_name(value: str) -> str:
    value = value.strip()
    if not value or len(value) > 64 or any(c in value for c in "\n\r"):
        raise Invalid("a peer needs a name of 1-64 characters on one line")
    return value
