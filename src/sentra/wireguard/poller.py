"""The WireGuard agent: reads every managed interface on aligned ticks, off the event loop.

Each tick runs ``wg show all dump`` (one call per network namespace in use) as an async
subprocess with a timeout, then parses and does the bookkeeping on the event loop in
slices of ``SLICE`` peers, yielding between them (on a worker thread the same Python work
held the GIL for up to a switch interval, 5 ms, at a time, and the status route waited
behind it: bench/wg_status.py), and saves the counters on a worker thread:
traffic totals grow by the *delta* of the interface's counters since the last poll (a
counter lower than the last one means the interface restarted: the new value is all new
traffic), so totals survive restarts of the interface and, being stored with the last raw
counters, of the node. An endpoint that differs from the last one seen is recorded (a
leaked config shows up as a new endpoint). Then one ``PeerStatus`` per peer and one
``InterfaceStatus`` per interface are published on ``wg.status.<interface>``.

A tick that overruns the interval delays the next one; calls never pile up.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from sentra.bus.base import Bus
from sentra.events import Event
from sentra.store.sqlite.wireguard import Counter, WgStore
from sentra.wireguard.apply import CommandFailed
from sentra.wireguard.dump import InterfaceDump, PeerDump, parse_dump
from sentra.wireguard.model import Interface, InterfaceStatus, Peer, PeerStatus

log = logging.getLogger(__name__)
SLICE = 100  # peers accounted (or events published) between two yields to the loop
RELOAD_EVERY = 30  # polls between two reads of an unchanged configuration


class Reader(Protocol):
    async def read(self, netns: str = "") -> str: ...


@dataclass
class _Last:
    ts: float
    rx: int
    tx: int


@dataclass
class PollResult:
    events: list[tuple[str, Any]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


class WgPoller:
    def __init__(
        self,
        store: WgStore,
        bus: Bus,
        reader: Reader,
        *,
        interval: float = 10.0,
        online_after_s: float = 180.0,
        clock: Callable[[], float] = time.time,
        on_tick: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.reader = reader
        self.interval = interval
        self.online_after = online_after_s
        self.clock = clock
        self.on_tick = on_tick
        self._counters: dict[str, Counter] | None = None
        self._config: tuple[list[Interface], list[Peer]] | None = None
        self._config_rev = -1
        self._last: dict[str, _Last] = {}
        self.polls = 0
        self.last_duration_s = 0.0
        self.last_error = ""

    async def run(self) -> None:
        while True:
            now = self.clock()
            tick = math.floor(now / self.interval + 1) * self.interval
            await asyncio.sleep(max(tick - now, 0))
            try:
                await self.poll_once()
            except Exception:  # one bad tick must not end the agent
                log.exception("WireGuard poll failed")
            if self.on_tick is not None:
                try:
                    await self.on_tick(self.clock())
                except Exception:
                    log.exception("WireGuard expiry check failed")

    async def poll_once(self) -> PollResult:
        """One poll: read, account, publish. Returns what was published (for tests)."""
        started = time.monotonic()
        if (
            self._config is None
            or self.store.revision != self._config_rev
            or not (self.polls % RELOAD_EVERY)
        ):
            # Re-read only after a change (or now and then, for changes made elsewhere):
            # building 1,000 peers on a worker thread holds the GIL for milliseconds.
            self._config = await asyncio.to_thread(self._load)
        ifaces, peers = self._config
        texts: dict[str, str] = {}
        errors: dict[str, str] = {}
        for netns in sorted({i.netns for i in ifaces}):
            try:
                texts[netns] = await self.reader.read(netns)
            except CommandFailed as exc:
                errors[netns] = str(exc)
        now = self.clock()
        result = PollResult(errors=errors)
        changed: list[tuple[str, Counter]] = []
        moves: list[tuple[str, float, str]] = []
        for _ in self._account(ifaces, peers, texts, now, result, changed, moves):
            await asyncio.sleep(0)  # let requests in between slices
        if changed or moves:
            await asyncio.to_thread(self.store.save_counters, changed, moves, now)
        for i, (topic, event) in enumerate(result.events, start=1):
            # PeerStatus / InterfaceStatus are not (yet) in sentra.events.Event.
            self.bus.publish(topic, cast(Event, event))
            if i % SLICE == 0:
                await asyncio.sleep(0)
        self.polls += 1
        self.last_duration_s = time.monotonic() - started
        self.last_error = "; ".join(errors.values())
        if errors:
            log.warning("reading WireGuard status failed: %s", self.last_error)
        return result

    def _load(self) -> tuple[list[Interface], list[Peer]]:
        if self._counters is None:
            self._counters = self.store.counters()
        self._config_rev = self.store.revision  # read first: a change meanwhile reloads
        return self.store.interfaces(), self.store.peers()

    def _account(
        self,
        ifaces: list[Interface],
        peers: list[Peer],
        texts: dict[str, str],
        now: float,
        out: PollResult,
        changed: list[tuple[str, Counter]],
        moves: list[tuple[str, float, str]],
    ) -> Iterator[None]:
        """Account one poll into ``out``, ``changed`` and ``moves``, yielding every
        ``SLICE`` peers so the caller can give the loop back."""
        assert self._counters is not None
        errors = out.errors
        dumps: dict[str, dict[str, InterfaceDump]] = {}
        for ns, text in texts.items():
            dumps[ns] = parse_dump(text)
            yield
        by_iface: dict[str, list[Peer]] = {}
        for p in peers:
            by_iface.setdefault(p.interface, []).append(p)
        done = 0
        for iface in ifaces:
            topic = f"wg.status.{iface.name}"
            dump = dumps.get(iface.netns, {}).get(iface.name)
            err = errors.get(iface.netns, "")
            out.events.append(
                (
                    topic,
                    InterfaceStatus(
                        source=iface.name,
                        ts=now,
                        up=dump is not None,
                        listen_port=dump.listen_port if dump else None,
                        peers=len(dump.peers) if dump else 0,
                        error=err,
                    ),
                )
            )
            for p in by_iface.get(iface.name, []):
                done += 1
                if done % SLICE == 0:
                    yield
                k = self._counters.setdefault(p.id, Counter())
                seen = dump.peers.get(p.public_key) if dump else None
                if seen is None:
                    self._last.pop(p.id, None)
                    if not err and (k.last_rx or k.last_tx):
                        # Gone from the interface (down, or the peer disabled): its counters
                        # start again from zero when it comes back.
                        k.last_rx = k.last_tx = 0
                        changed.append((p.id, k))
                    out.events.append((topic, _status(p, k, now)))
                    continue
                drx = seen.rx_bytes - k.last_rx if seen.rx_bytes >= k.last_rx else seen.rx_bytes
                dtx = seen.tx_bytes - k.last_tx if seen.tx_bytes >= k.last_tx else seen.tx_bytes
                k.rx_total += drx
                k.tx_total += dtx
                k.last_rx, k.last_tx = seen.rx_bytes, seen.tx_bytes
                moved = bool(seen.endpoint) and seen.endpoint != k.endpoint
                if moved and seen.endpoint:
                    moves.append((p.id, now, seen.endpoint))
                    k.endpoint = seen.endpoint
                if drx or dtx or moved:
                    changed.append((p.id, k))
                rates = (0.0, 0.0)
                last = self._last.get(p.id)
                if last is not None and now > last.ts:
                    dt = now - last.ts
                    rates = (round(drx / dt, 1), round(dtx / dt, 1))
                self._last[p.id] = _Last(now, seen.rx_bytes, seen.tx_bytes)
                hs = seen.latest_handshake
                online = hs is not None and now - hs < self.online_after
                out.events.append((topic, _status(p, k, now, seen, online, rates)))
        live = {p.id for p in peers}
        for pid in [pid for pid in self._counters if pid not in live]:
            del self._counters[pid]


def _status(
    p: Peer,
    k: Counter,
    now: float,
    seen: PeerDump | None = None,
    online: bool = False,
    rates: tuple[float, float] = (0.0, 0.0),
) -> PeerStatus:
    return PeerStatus(
        source=p.interface,
        ts=now,
        peer_id=p.id,
        public_key=p.public_key,
        online=online,
        endpoint=seen.endpoint if seen is not None else None,
        latest_handshake=seen.latest_handshake if seen is not None else None,
        rx_bytes=seen.rx_bytes if seen is not None else 0,
        tx_bytes=seen.tx_bytes if seen is not None else 0,
        rx_total=k.rx_total,
        tx_total=k.tx_total,
        rx_rate=rates[0],
        tx_rate=rates[1],
    )
