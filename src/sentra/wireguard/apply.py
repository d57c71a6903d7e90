"""Bring interfaces up and apply configs with ``ip`` and ``wg``, without dropping tunnels.

Every call is an argv list run with ``asyncio.create_subprocess_exec`` under a timeout (a
stuck ``wg`` never blocks the loop or hangs a request); no shell, no sudo (the node runs
with CAP_NET_ADMIN or as root). Configs reach ``wg`` on stdin (``/dev/stdin``, a pipe), so
a private key is never written to a file nor shown in a process list.

Bring-up follows wg-quick's steps (add the link, set the config, addresses, MTU, link up,
routes) rather than calling ``wg-quick up``: that needs the plaintext config in a file
named after the interface and runs its hooks and ``resolvconf``. The link is created by
the kernel (``ip link add … type wireguard``) or, where the kernel has no WireGuard, by the
userspace implementation (``wireguard-go``), as wg-quick does. Later applies use
``wg syncconf``, which changes only the peers that differ: other peers' sessions and
handshakes survive. An interface may live in a network namespace (``ip netns exec``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

from sentra.stdin_pipe import StdinPipe

log = logging.getLogger(__name__)


class CommandFailed(RuntimeError):
    """A command that exited non-zero, timed out or is not installed; says which and why."""


@dataclass(frozen=True)
class Result:
    rc: int
    stdout: str
    stderr: str


async def run(
    argv: Sequence[str],
    *,
    stdin: bytes | None = None,
    timeout_s: float = 10.0,
    check: bool = True,
    capture: bool = True,
) -> Result:
    """Run ``argv``; raise CommandFailed on a non-zero exit (``check``), a timeout or a
    missing program. The process is killed on timeout and always reaped."""
    env = {k: v for k, v in os.environ.items() if k != "LOG_LEVEL"}
    pipe = asyncio.subprocess.PIPE if capture else asyncio.subprocess.DEVNULL
    feed = StdinPipe(stdin)  # `wg setconf IFACE /dev/stdin` needs a real pipe
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=feed.child_end, stdout=pipe, stderr=pipe, env=env
        )
    except FileNotFoundError:
        feed.abandon()
        raise CommandFailed(f"{argv[0]} is not installed (or not on PATH)") from None
    except BaseException:
        feed.abandon()
        raise
    feed.started()
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise CommandFailed(f"{_show(argv)} did not finish within {timeout_s:g} s") from None
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    finally:
        await feed.done()  # the child is gone, so its end is closed and the feeder ends
    res = Result(
        proc.returncode or 0,
        (out or b"").decode(errors="replace"),
        (err or b"").decode(errors="replace"),
    )
    if check and res.rc != 0:
        raise CommandFailed(f"{_show(argv)} failed ({res.rc}): {res.stderr.strip()[:300]}")
    return res


def _show(argv: Sequence[str]) -> str:
    return " ".join(argv[:6])


@dataclass(frozen=True)
class Desired:
    """What an interface should look like after an apply (the sync config holds the key)."""

    name: str
    netns: str
    addresses: list[str]
    mtu: int | None
    sync_conf: str
    routes: list[str]  # peers' networks outside the interface's own ranges


class Applier:
    """Applies interfaces; one instance per node, commands configurable for tests."""

    def __init__(
        self,
        *,
        wg: str = "wg",
        ip: str = "ip",
        userspace: str = "wireguard-go",
        timeout_s: float = 10.0,
    ) -> None:
        self.wg = wg
        self.ip = ip
        self.userspace = userspace
        self.timeout = timeout_s

    def _ns(self, netns: str, argv: list[str]) -> list[str]:
        return [self.ip, "netns", "exec", netns, *argv] if netns else argv

    async def _ip(self, netns: str, *args: str, check: bool = True) -> Result:
        pre = ["-n", netns] if netns else []
        return await run([self.ip, *pre, *args], timeout_s=self.timeout, check=check)

    async def exists(self, name: str, netns: str = "") -> bool:
        res = await self._ip(netns, "link", "show", "dev", name, check=False)
        return res.rc == 0

    async def apply(self, d: Desired) -> str:
        """Bring ``d`` up, or sync it when it is up already; return "created" or "synced"."""
        created = not await self.exists(d.name, d.netns)
        if created:
            await self._create(d.name, d.netns)
        verb = "setconf" if created else "syncconf"
        await run(
            self._ns(d.netns, [self.wg, verb, d.name, "/dev/stdin"]),
            stdin=d.sync_conf.encode(),
            timeout_s=self.timeout,
        )
        await self._addresses(d)
        link = ["link", "set", "dev", d.name]
        await self._ip(d.netns, *link, *(["mtu", str(d.mtu)] if d.mtu else []), "up")
        await self._routes(d)
        return "created" if created else "synced"

    async def _create(self, name: str, netns: str) -> None:
        res = await self._ip(netns, "link", "add", "dev", name, "type", "wireguard", check=False)
        if res.rc == 0:
            return
        log.info(
            "no WireGuard in this kernel (%s); starting %s", res.stderr.strip(), self.userspace
        )
        # The daemon detaches; its output goes nowhere so that no pipe stays open.
        await run(self._ns(netns, [self.userspace, name]), timeout_s=self.timeout, capture=False)
        if not await self.exists(name, netns):
            raise CommandFailed(f"{self.userspace} {name} did not create the interface")

    async def _addresses(self, d: Desired) -> None:
        res = await self._ip(d.netns, "-o", "address", "show", "dev", d.name)
        have = set()
        for line in res.stdout.splitlines():
            parts = line.split()
            for fam in ("inet", "inet6"):
                if fam in parts:
                    have.add(str(ipaddress.ip_interface(parts[parts.index(fam) + 1])))
        want = {str(ipaddress.ip_interface(a)) for a in d.addresses}
        for addr in sorted(want - have):
            await self._ip(d.netns, "address", "add", addr, "dev", d.name)
        for addr in sorted(have - want):
            if not ipaddress.ip_interface(addr).ip.is_link_local:
                await self._ip(d.netns, "address", "del", addr, "dev", d.name)

    async def _routes(self, d: Desired) -> None:
        have: set[str] = set()
        for fam in ("-4", "-6"):
            res = await self._ip(d.netns, fam, "route", "show", "dev", d.name, "proto", "static")
            have |= {line.split()[0] for line in res.stdout.splitlines() if line.strip()}
        want = set()
        for r in d.routes:
            net = ipaddress.ip_network(r, strict=False)
            if net.prefixlen == 0:
                log.warning(
                    "not routing %s into %s: it would take the node's own traffic", r, d.name
                )
                continue
            want.add(str(net) if net.num_addresses > 1 else str(net.network_address))
        for r in sorted(want - have):
            await self._ip(d.netns, "route", "replace", r, "dev", d.name, "proto", "static")
        for r in sorted(have - want):
            await self._ip(
                d.netns, "route", "del", r, "dev", d.name, "proto", "static", check=False
            )

    async def down(self, name: str, netns: str = "") -> bool:
        """Delete the link (a userspace daemon exits with it); False when it was not there."""
        if not await self.exists(name, netns):
            return False
        await self._ip(netns, "link", "del", "dev", name)
        return True


class DumpReader:
    """Runs ``wg show all dump`` in each namespace that holds a managed interface."""

    def __init__(self, *, wg: str = "wg", ip: str = "ip", timeout_s: float = 10.0) -> None:
        self.wg = wg
        self.ip = ip
        self.timeout = timeout_s

    async def read(self, netns: str = "") -> str:
        argv = [self.wg, "show", "all", "dump"]
        if netns:
            argv = [self.ip, "netns", "exec", netns, *argv]
        return (await run(argv, timeout_s=self.timeout)).stdout
