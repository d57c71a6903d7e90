"""The WireGuard manager: what the API and the CLI ask for, on top of the store.

It validates input (``model``), generates and encrypts keys (``keys``), allocates
addresses (``addresses``), renders configs (``render``) and applies them (``apply``). A
change to a peer of an interface that is up is applied at once with ``wg syncconf``, which
leaves the other peers' sessions alone. Applies of one interface are serialised.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from sentra.store.sqlite.wireguard import Conflict, WgStore
from sentra.wireguard import keys, model
from sentra.wireguard.addresses import next_free, used_addresses
from sentra.wireguard.apply import Applier, CommandFailed, Desired
from sentra.wireguard.cache import WgStatusCache
from sentra.wireguard.model import Interface, Invalid, Peer, PeerStatus
from sentra.wireguard.render import (
    ServerPeer,
    parse_conf,
    render_client,
    render_server,
    render_sync,
    server_peers,
)

log = logging.getLogger(__name__)
MAX_LINK_TTL_S = 7 * 86400

__all__ = ["Conflict", "Invalid", "NotFound", "WgManager"]


class NotFound(LookupError):
    """No interface or peer of that name/id; the message says how to list them."""


class ApplyFailed(RuntimeError):
    """``ip``/``wg`` refused or is missing; the message is the command's."""


def _ts(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"{what} must be a unix timestamp in seconds, or null")
    return float(value)


def _strs(body: Mapping[str, Any], key: str) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid(f"{key} must be a list of strings")
    return value


def _int(body: Mapping[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"{key} must be an integer")
    return value


def _str(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"{key} must be a string")
    return value


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class WgManager:
    def __init__(
        self,
        store: WgStore,
        box: keys.SecretBox,
        applier: Applier,
        cache: WgStatusCache,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.box = box
        self.applier = applier
        self.cache = cache
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._expiry_checked = clock()
        self.apply_errors: dict[str, str] = {}
        self.applied: set[str] = set()

    def seed_cache(self) -> None:
        """Put the stored totals into the cache, so they show before the first poll."""
        counters = self.store.counters()
        now = self.clock()
        for p in self.store.peers():
            k = counters.get(p.id)
            if k is None:
                continue
            self.cache.apply(
                PeerStatus(
                    p.interface,
                    now,
                    p.id,
                    p.public_key,
                    False,
                    None,
                    None,
                    0,
                    0,
                    k.rx_total,
                    k.tx_total,
                    0.0,
                    0.0,
                )
            )

    # ------------------------------------------------------------------ reading

    def _iface(self, name: str) -> Interface:
        iface = self.store.interface(name)
        if iface is None:
            raise NotFound(
                f"there is no WireGuard interface named {name!r} "
                "(list them with GET /api/v1/wg/interfaces)"
            )
        return iface

    def _peer(self, peer_id: str) -> Peer:
        peer = self.store.peer(peer_id)
        if peer is None:
            raise NotFound(
                f"there is no peer with id {peer_id!r} (list them with GET /api/v1/wg/peers)"
            )
        return peer

    def is_up(self, name: str) -> bool:
        st = self.cache.interface(name)
        return bool(st and st.up)

    def interface_json(self, iface: Interface, peers: int | None = None) -> dict[str, Any]:
        if peers is None:
            peers = self.store.peer_counts().get(iface.name, 0)
        return {
            "name": iface.name,
            "addresses": iface.addresses,
            "listen_port": iface.listen_port,
            "dns": iface.dns,
            "mtu": iface.mtu,
            "endpoint": iface.endpoint,
            "public_key": iface.public_key,
            "peers": peers,
            "up": self.is_up(iface.name),
            "client_allowed_ips": iface.client_allowed_ips,
            "persistent_keepalive": iface.persistent_keepalive,
            "netns": iface.netns,
            "apply_error": self.apply_errors.get(iface.name, ""),
            "created_at": iface.created_at,
            "updated_at": iface.updated_at,
        }

    def list_interfaces(self) -> list[dict[str, Any]]:
        counts = self.store.peer_counts()
        return [self.interface_json(i, counts.get(i.name, 0)) for i in self.store.interfaces()]

    def get_interface(self, name: str) -> dict[str, Any]:
        return self.interface_json(self._iface(name))

    def peer_json(self, p: Peer) -> dict[str, Any]:
        return {
            "id": p.id,
            "interface": p.interface,
            "name": p.name,
            "public_key": p.public_key,
            "addresses": p.addresses,
            "allowed_ips": p.allowed_ips,
            "extra_routes": p.extra_routes,
            "enabled": p.enabled,
            "expires_at": p.expires_at,
            "expired": p.expires_at is not None and p.expires_at <= self.clock(),
            "created_at": p.created_at,
            "updated_at": p.updated_at,
            "has_preshared_key": p.preshared_key_enc is not None,
            "has_private_key": p.private_key_enc is not None,
            "status": self.cache.peer_status(p.id),
        }

    def list_peers(self, interface: str | None = None) -> list[dict[str, Any]]:
        if interface is not None:
            self._iface(interface)
        return [self.peer_json(p) for p in self.store.peers(interface)]

    def get_peer(self, peer_id: str) -> dict[str, Any]:
        return self.peer_json(self._peer(peer_id))

    def endpoints(self, peer_id: str, limit: int = 100) -> list[dict[str, Any]]:
        self._peer(peer_id)
        return [
            {"ts": e.ts, "endpoint": e.endpoint, "previous": e.previous}
            for e in self.store.endpoints(peer_id, limit)
        ]

    # ------------------------------------------------------------------ interfaces

    def create_interface(self, body: Mapping[str, Any]) -> dict[str, Any]:
        name = model.check_name(_str(body, "name") or "")
        private = _str(body, "private_key") or keys.generate_private_key()
        if not keys.valid_key(private):
            raise Invalid("private_key is not a WireGuard key (44 characters of base64)")
        listen_port = _int(body, "listen_port")
        if listen_port is None:
            raise Invalid("listen_port is required, e.g. 51820")
        now = self.clock()
        iface = Interface(
            name=name,
            addresses=model.interface_addresses(_strs(body, "addresses") or []),
            listen_port=model.port(listen_port),
            public_key=keys.public_key(private),
            private_key_enc=self.box.seal(private, f"wg:iface:{name}"),
            dns=model.dns(_strs(body, "dns") or []),
            mtu=model.mtu(_int(body, "mtu")),
            endpoint=model.endpoint(_str(body, "endpoint") or ""),
            client_allowed_ips=model.networks(
                _strs(body, "client_allowed_ips") or model.DEFAULT_CLIENT_ALLOWED,
                "client_allowed_ips",
            ),
            persistent_keepalive=self._keepalive(body, 0),
            netns=model.check_netns(_str(body, "netns") or ""),
            created_at=now,
            updated_at=now,
        )
        self._check_port(iface)
        self.store.add_interface(iface)
        return self.interface_json(iface, 0)

    @staticmethod
    def _keepalive(body: Mapping[str, Any], default: int) -> int:
        value = _int(body, "persistent_keepalive")
        if value is None:
            return default
        if not 0 <= value <= 65535:
            raise Invalid("persistent_keepalive must be 0 (off) to 65535 seconds")
        return value

    def _check_port(self, iface: Interface) -> None:
        for other in self.store.interfaces():
            if (
                other.name != iface.name
                and other.netns == iface.netns
                and other.listen_port == iface.listen_port
            ):
                raise Conflict(
                    f"interface {other.name!r} listens on port {iface.listen_port} already"
                )

    def adopt_interface(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Take over an existing wg-quick config: its key, addresses, port and peers (their
        public keys, preshared keys and allowed IPs; clients keep their own private keys)."""
        name = model.check_name(_str(body, "name") or "")
        text = _str(body, "config") or _str(body, "conf") or ""
        if not text.strip():
            raise Invalid("send the config text as 'config' and the interface's 'name'")
        conf = parse_conf(text)
        now = self.clock()
        iface = Interface(
            name=name,
            addresses=model.interface_addresses(conf.addresses),
            listen_port=model.port(_int(body, "listen_port") or conf.listen_port or 51820),
            public_key=keys.public_key(conf.private_key),
            private_key_enc=self.box.seal(conf.private_key, f"wg:iface:{name}"),
            dns=model.dns(_strs(body, "dns") or conf.dns),
            mtu=model.mtu(conf.mtu),
            endpoint=model.endpoint(_str(body, "endpoint") or ""),
            netns=model.check_netns(_str(body, "netns") or ""),
            created_at=now,
            updated_at=now,
        )
        self._check_port(iface)
        nets = [ipaddress.ip_interface(a).network for a in iface.addresses]
        peers = []
        for n, pp in enumerate(conf.peers, start=1):
            pid = secrets.token_hex(8)
            inside: list[str] = []
            outside: list[str] = []
            for cidr in model.networks(pp.allowed_ips, "AllowedIPs"):
                net = ipaddress.ip_network(cidr)
                host = net.num_addresses == 1
                in_range = any(net.version == r.version and net.subnet_of(r) for r in nets)  # type: ignore[arg-type]
                (inside if host and in_range else outside).append(cidr)
            peers.append(
                Peer(
                    id=pid,
                    interface=name,
                    name=model.peer_name(pp.name or f"peer {n}"),
                    public_key=pp.public_key,
                    addresses=inside,
                    allowed_ips=outside,
                    extra_routes=[],
                    enabled=True,
                    expires_at=None,
                    created_at=now + n * 1e-6,
                    updated_at=now,
                    preshared_key_enc=(
                        self.box.seal(pp.preshared_key, f"wg:peer:{pid}:psk")
                        if pp.preshared_key
                        else None
                    ),
                )
            )
        self.store.add_interface(iface, peers)
        return self.interface_json(iface, len(peers))

    async def update_interface(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        iface = self._iface(name)
        known = {
            "addresses",
            "listen_port",
            "dns",
            "mtu",
            "endpoint",
            "client_allowed_ips",
            "persistent_keepalive",
            "netns",
        }
        unknown = sorted(set(body) - known - {"name"})
        if unknown:
            raise Invalid(
                f"cannot change {', '.join(unknown)}; changeable: {', '.join(sorted(known))}"
            )
        changes: dict[str, Any] = {}
        if "addresses" in body:
            changes["addresses"] = model.interface_addresses(_strs(body, "addresses") or [])
        if "listen_port" in body:
            changes["listen_port"] = model.port(_int(body, "listen_port") or 0)
        if "dns" in body:
            changes["dns"] = model.dns(_strs(body, "dns") or [])
        if "mtu" in body:
            changes["mtu"] = model.mtu(_int(body, "mtu"))
        if "endpoint" in body:
            changes["endpoint"] = model.endpoint(_str(body, "endpoint") or "")
        if "client_allowed_ips" in body:
            changes["client_allowed_ips"] = model.networks(
                _strs(body, "client_allowed_ips") or [], "client_allowed_ips"
            )
        if "persistent_keepalive" in body:
            changes["persistent_keepalive"] = self._keepalive(body, 0)
        if "netns" in body:
            if self.is_up(name):
                raise Conflict(
                    "bring the interface down (DELETE it or ip link del) before moving it"
                )
            changes["netns"] = model.check_netns(_str(body, "netns") or "")
        new = replace(iface, **changes, updated_at=self.clock())
        self._check_port(new)
        self.store.update_interface(new)
        await self._auto_apply(name)
        return self.interface_json(new)

    async def delete_interface(self, name: str) -> dict[str, Any]:
        iface = self._iface(name)
        async with self._lock(name):
            try:
                removed = await self.applier.down(iface.name, iface.netns)
            except CommandFailed as exc:
                log.warning("could not remove interface %s: %s", name, exc)
                removed = False
            self.store.delete_interface(name)
        self.cache.forget_interface(name)
        self.applied.discard(name)
        self.apply_errors.pop(name, None)
        return {"deleted": name, "link_removed": removed}

    # ------------------------------------------------------------------ applying

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    def desired(self, iface: Interface, now: float | None = None) -> Desired:
        now = self.clock() if now is None else now
        private = self.box.open(iface.private_key_enc, f"wg:iface:{iface.name}")
        peers = server_peers(self.store.peers(iface.name), now, self._psk)
        nets = [ipaddress.ip_interface(a).network for a in iface.addresses]
        routes = []
        for sp in peers:
            for cidr in sp.allowed_ips:
                net = ipaddress.ip_network(cidr)
                if not any(net.version == r.version and net.subnet_of(r) for r in nets):  # type: ignore[arg-type]
                    routes.append(cidr)
        return Desired(
            name=iface.name,
            netns=iface.netns,
            addresses=iface.addresses,
            mtu=iface.mtu,
            sync_conf=render_sync(iface, private, peers),
            routes=model.unique(routes),
        )

    def server_config(self, name: str) -> str:
        """The interface's full wg-quick file (for people who run wg-quick themselves)."""
        iface = self._iface(name)
        private = self.box.open(iface.private_key_enc, f"wg:iface:{iface.name}")
        peers: list[ServerPeer] = server_peers(self.store.peers(name), self.clock(), self._psk)
        return render_server(iface, private, peers)

    def _psk(self, p: Peer) -> str | None:
        if p.preshared_key_enc is None:
            return None
        return self.box.open(p.preshared_key_enc, f"wg:peer:{p.id}:psk")

    async def apply(self, name: str) -> dict[str, Any]:
        """Bring the interface up or sync it; raises ApplyFailed with the command's words."""
        iface = self._iface(name)
        async with self._lock(name):
            started = time.monotonic()
            desired = await asyncio.to_thread(self.desired, iface)
            try:
                how = await self.applier.apply(desired)
            except CommandFailed as exc:
                self.apply_errors[name] = str(exc)
                raise ApplyFailed(str(exc)) from None
            self.apply_errors.pop(name, None)
            self.applied.add(name)
            self.cache.mark(name, True, self.clock())
            took = time.monotonic() - started
        log.info("WireGuard interface %s %s in %.0f ms", name, how, took * 1000)
        return {"interface": name, "result": how, "duration_ms": round(took * 1000, 1)}

    async def _auto_apply(self, name: str) -> None:
        """Apply a change to an interface that is up; a failure is kept and logged (the
        change itself is stored and goes out with the next apply)."""
        if not (self.is_up(name) or name in self.applied):
            return
        try:
            await self.apply(name)
        except ApplyFailed as exc:
            log.warning("change to %s stored but not applied: %s", name, exc)

    async def expire_due(self, now: float) -> None:
        """Re-apply the interfaces whose peers expired since the last check."""
        since, self._expiry_checked = self._expiry_checked, now
        due = {
            p.interface
            for p in self.store.peers()
            if p.enabled and p.expires_at is not None and since < p.expires_at <= now
        }
        for name in sorted(due):
            log.info("peers of %s expired; applying", name)
            await self._auto_apply(name)

    # ------------------------------------------------------------------ peers

    async def create_peer(self, body: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
        iface = self._iface(_str(body, "interface") or "")
        now = self.clock()
        pid = secrets.token_hex(8)
        public = _str(body, "public_key")
        private: str | None = None
        if public:
            if not keys.valid_key(public):
                raise Invalid("public_key is not a WireGuard key (44 characters of base64)")
        else:
            private = keys.generate_private_key()
            public = keys.public_key(private)
        psk = body.get("preshared_key", False)
        if not isinstance(psk, bool):
            raise Invalid("preshared_key is true (generate one) or false")
        peers = self.store.peers(iface.name)
        addresses = _strs(body, "addresses")
        if addresses:
            addresses = model.networks(addresses, "address")
            taken = used_addresses([a for p in peers for a in p.addresses] + iface.addresses)
            clash = [a for a in addresses if ipaddress.ip_network(a).network_address in taken]
            if clash:
                raise Conflict(f"address {clash[0]} is taken on {iface.name}")
        else:
            used = used_addresses([a for p in peers for a in p.addresses])
            addresses = next_free(iface.addresses, used)
        peer = Peer(
            id=pid,
            interface=iface.name,
            name=model.peer_name(_str(body, "name") or ""),
            public_key=public,
            addresses=addresses,
            allowed_ips=model.networks(_strs(body, "allowed_ips") or [], "allowed_ips"),
            extra_routes=model.networks(_strs(body, "extra_routes") or [], "extra_routes"),
            enabled=bool(body.get("enabled", True)),
            expires_at=_ts(body.get("expires_at"), "expires_at"),
            created_at=now,
            updated_at=now,
            private_key_enc=self.box.seal(private, f"wg:peer:{pid}:private") if private else None,
            preshared_key_enc=(
                self.box.seal(keys.generate_preshared_key(), f"wg:peer:{pid}:psk") if psk else None
            ),
        )
        self.store.add_peer(peer)
        await self._auto_apply(iface.name)
        config = self._client_config(iface, peer) if private else None
        return self.peer_json(peer), config

    async def update_peer(self, peer_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        peer = self._peer(peer_id)
        known = {
            "name",
            "addresses",
            "allowed_ips",
            "extra_routes",
            "expires_at",
            "enabled",
            "public_key",
            "preshared_key",
        }
        unknown = sorted(set(body) - known - {"id", "interface"})
        if unknown:
            raise Invalid(
                f"cannot change {', '.join(unknown)}; changeable: {', '.join(sorted(known))}"
            )
        ch: dict[str, Any] = {}
        if "name" in body:
            ch["name"] = model.peer_name(_str(body, "name") or "")
        for key in ("addresses", "allowed_ips", "extra_routes"):
            if key in body:
                ch[key] = model.networks(_strs(body, key) or [], key)
        if "expires_at" in body:
            ch["expires_at"] = _ts(body["expires_at"], "expires_at")
        if "enabled" in body:
            if not isinstance(body["enabled"], bool):
                raise Invalid("enabled must be true or false")
            ch["enabled"] = body["enabled"]
        if body.get("public_key") and body["public_key"] != peer.public_key:
            if not keys.valid_key(str(body["public_key"])):
                raise Invalid("public_key is not a WireGuard key (44 characters of base64)")
            ch["public_key"] = body["public_key"]
            ch["private_key_enc"] = None  # the client holds the key now
        if "preshared_key" in body:
            if body["preshared_key"] is True:
                ch["preshared_key_enc"] = self.box.seal(
                    keys.generate_preshared_key(), f"wg:peer:{peer.id}:psk"
                )
            elif body["preshared_key"] is False:
                ch["preshared_key_enc"] = None
            else:
                raise Invalid("preshared_key is true (a new one) or false (none)")
        new = replace(peer, **ch, updated_at=self.clock())
        self.store.update_peer(new)
        await self._auto_apply(peer.interface)
        return self.peer_json(new)

    async def set_enabled(self, peer_id: str, enabled: bool) -> dict[str, Any]:
        return await self.update_peer(peer_id, {"enabled": enabled})

    async def delete_peer(self, peer_id: str) -> dict[str, Any]:
        peer = self._peer(peer_id)
        self.store.delete_peer(peer_id)
        self.cache.forget_peer(peer_id)
        await self._auto_apply(peer.interface)
        return {"deleted": peer_id}

    # ------------------------------------------------------------------ client configs

    def _client_config(self, iface: Interface, peer: Peer) -> str:
        if peer.private_key_enc is None:
            raise Conflict(
                "this peer's key pair was made by the client: Sentra has no private key to put "
                "in a config (the client already has its own)"
            )
        private = self.box.open(peer.private_key_enc, f"wg:peer:{peer.id}:private")
        return render_client(iface, peer, private, self._psk(peer))

    def client_config(self, peer_id: str) -> tuple[str, str]:
        """(file name, wg-quick text) of a peer's config."""
        peer = self._peer(peer_id)
        iface = self._iface(peer.interface)
        return _file_name(iface.name, peer.name), self._client_config(iface, peer)

    def create_link(self, peer_id: str, ttl_s: float) -> tuple[str, float]:
        """A one-time download code for a peer's config; (code, expires_at)."""
        peer = self._peer(peer_id)
        if peer.private_key_enc is None:
            self._client_config(self._iface(peer.interface), peer)  # raises Conflict
        if not 10 <= ttl_s <= MAX_LINK_TTL_S:
            raise Invalid(f"ttl_s must be between 10 and {MAX_LINK_TTL_S} seconds")
        code = secrets.token_urlsafe(24)
        now = self.clock()
        self.store.add_link(_code_hash(code), peer_id, now, now + ttl_s)
        return code, now + ttl_s

    def redeem_link(self, code: str) -> tuple[str, str] | None:
        """(file name, config) the first time a valid code is used, else None."""
        peer_id = self.store.redeem_link(_code_hash(code), self.clock())
        if peer_id is None:
            return None
        try:
            return self.client_config(peer_id)
        except (NotFound, Conflict):
            return None


def _file_name(iface: str, peer: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in peer).strip("-") or "peer"
    return f"{iface}-{safe[:40]}.conf"
