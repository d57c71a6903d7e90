"""The next free tunnel address of a peer, in each of the interface's ranges (IPv4, IPv6).

A peer gets one host address (/32 or /128) from every range of its interface: the lowest
one that is neither the network, the IPv4 broadcast, the server's own address nor another
peer's. The scan skips used addresses in order, so it costs O(peers), not O(range).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from sentra.wireguard.model import Invalid

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def used_addresses(cidrs: Iterable[str]) -> set[Address]:
    """The host addresses taken by ``cidrs`` ("10.8.0.2/32", "fd00::2/128", "10.8.0.1/24")."""
    return {ipaddress.ip_interface(c).ip for c in cidrs}


def next_free(interface_addresses: Iterable[str], used: set[Address]) -> list[str]:
    """One free host address per range of the interface, as "/32" or "/128" CIDRs."""
    out: list[str] = []
    for text in interface_addresses:
        iface = ipaddress.ip_interface(text)
        net = iface.network
        taken = used | {iface.ip}
        first = int(net.network_address) + (1 if net.num_addresses > 2 else 0)
        last = int(net.broadcast_address) - (1 if net.version == 4 and net.num_addresses > 2 else 0)
        candidate = first
        for addr in sorted(a for a in taken if a.version == net.version and a in net):
            if int(addr) < candidate:
                continue
            if int(addr) > candidate:
                break
            candidate += 1
        if candidate > last:
            raise Invalid(f"the range {net} of the interface has no free address left")
        host = ipaddress.ip_address(candidate)
        out.append(f"{host}/{host.max_prefixlen}")
    return out
