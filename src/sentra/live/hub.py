"""The live hub: one bus subscription in, coalesced frames out to every live client.

Every ``frame_interval_ms`` the events that arrived are turned into one frame per *distinct*
filter among the clients (selected and encoded once, not once per client), and the bytes
are put in each client's bounded queue. A full queue drops that frame for that client and
counts it; the client's next frame says ``"dropped": n``. A client that stays behind (its
queue never empties) for ``slow_client_timeout_s`` is closed with a reason. Producers never
wait for the hub: the bus drops the hub's oldest events if it falls behind, and the hub
never waits for a client.

Each client is served by one sender (the WebSocket endpoint's sender task, or the SSE
response loop) that awaits ``LiveClient.next()``; the endpoint owns it and cancels it on
disconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sentra.config import LiveSettings
from sentra.events import Event
from sentra.live.filters import LiveFilter
from sentra.live.frames import EncodedFrame, Entry, Selector, encode_frame, message, topic_kind

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN_LATER = 1013


class _Source(Protocol):
    """The part of a bus subscription the hub uses (MemorySubscription has it)."""

    async def get(self) -> tuple[str, Event] | None: ...

    def get_nowait(self) -> tuple[str, Event] | None: ...

    def close(self) -> None: ...


class _Bus(Protocol):
    def subscribe(self, pattern: str, *, name: str, maxsize: int = ...) -> _Source: ...


class HubFull(Exception):
    """No room for another live client (``max_clients``); retry later."""


class LiveClosed(Exception):
    """The hub closed this client; ``code`` is the WebSocket close code to send."""

    def __init__(self, reason: str, code: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class Outgoing:
    """One message's bytes; the ``str`` form (WebSocket text) is made once and shared."""

    __slots__ = ("_text", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._text: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = self.data.decode()
        return self._text


class LiveClient:
    """One connected consumer: a bounded frame queue, drop accounting, a close reason."""

    def __init__(
        self, hub: LiveHub, cid: int, filt: LiveFilter, transport: str, peer: str, size: int
    ) -> None:
        self.hub = hub
        self.id = cid
        self.filter = filt
        self.transport = transport
        self.peer = peer
        self.maxlen = size
        self.queue: deque[Outgoing] = deque()
        self.control: deque[Outgoing] = deque()
        self.dropped_pending = 0  # reported in the next frame this client gets
        self.dropped_total = 0
        self.frames_sent = 0
        self.behind_since: float | None = None  # first drop since the queue last emptied
        self.last_out = 0.0
        self.closed: LiveClosed | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._closed_waiter: asyncio.Future[None] | None = None

    def depth(self) -> int:
        return len(self.queue)

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def offer(self, frame: EncodedFrame, shared: Outgoing, now: float) -> bool:
        """Queue a frame; a full queue drops it (counted) instead of waiting."""
        if self.closed is not None:
            return False
        if len(self.queue) >= self.maxlen:
            self.dropped_pending += 1
            self.dropped_total += 1
            if self.behind_since is None:
                self.behind_since = now
            return False
        if self.dropped_pending:
            self.queue.append(Outgoing(frame.with_dropped(self.dropped_pending)))
            self.dropped_pending = 0
        else:
            self.queue.append(shared)
        self.last_out = now
        self._wake()
        return True

    def send_control(self, data: bytes, now: float = 0.0) -> None:
        """A control message (hello, subscribed, error, ping): not counted against the queue."""
        if self.closed is None:
            self.control.append(Outgoing(data))
            self.last_out = now or self.last_out
            self._wake()

    def close(self, reason: str, code: int = CLOSE_GOING_AWAY) -> None:
        if self.closed is None:
            self.closed = LiveClosed(reason, code)
            self.queue.clear()
            self.control.clear()
            self._wake()
            w = self._closed_waiter
            if w is not None and not w.done():
                w.set_result(None)

    async def wait_closed(self) -> LiveClosed:
        """Returns once the hub (or the endpoint) has closed this client.

        A sender may be stuck in a send to a peer that does not read; its endpoint waits on
        this as well, so it can stop that sender and end the connection.
        """
        while self.closed is None:
            self._closed_waiter = asyncio.get_running_loop().create_future()
            try:
                await self._closed_waiter
            finally:
                self._closed_waiter = None
        return self.closed

    async def next(self) -> Outgoing:
        """The next message to send; raises LiveClosed once the hub has closed this client."""
        while True:
            if self.closed is not None:
                raise self.closed
            if self.control:
                return self.control.popleft()
            if self.queue:
                out = self.queue.popleft()
                if not self.queue:
                    self.behind_since = None  # caught up
                self.frames_sent += 1
                return out
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None


@dataclass(frozen=True)
class LiveStats:
    clients: int
    filters: int
    frames_total: int
    frames_queued_total: int
    dropped_frames_total: int
    disconnected_slow_total: int
    refused_total: int
    queue_depth_max: int
    queue_depth_sum: int
    bus_dropped_total: int
    by_transport: dict[str, int]


class LiveHub:
    def __init__(
        self,
        bus: _Bus,
        settings: LiveSettings,
        *,
        clock: Callable[[], float] = time.time,
        heartbeat_s: float = 15.0,
        maxsize: int = 20_000,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.heartbeat_s = heartbeat_s
        self.interval = settings.frame_interval_ms / 1000.0
        self._sub = bus.subscribe(">", name="live-hub", maxsize=maxsize)
        self.clients: dict[int, LiveClient] = {}
        self._groups: dict[LiveFilter, list[LiveClient]] = {}
        self._selectors: dict[LiveFilter, Selector] = {}
        self._pending: list[Entry] = []
        self._ids = itertools.count(1)
        self.seq = 0
        self.closed = False
        self.frames_total = 0  # frames encoded (one per distinct filter per tick)
        self.frames_queued_total = 0  # frames put in client queues
        self.dropped_total = 0
        self.disconnected_slow_total = 0
        self.refused_total = 0
        # Endpoints still running (their close frame not yet sent), for a clean shutdown.
        self._serving: set[int] = set()
        self._all_released = asyncio.Event()
        self._all_released.set()

    # ------------------------------------------------------------------ clients

    def register(self, filt: LiveFilter, *, transport: str, peer: str = "") -> LiveClient:
        """A new client with its ``hello`` queued; raises HubFull at ``max_clients``."""
        if self.closed:
            raise HubFull("the node is shutting down")
        if len(self.clients) >= self.settings.max_clients:
            self.refused_total += 1
            raise HubFull(
                f"{len(self.clients)} live clients are connected, the most this node allows "
                "([live] max_clients); try again later"
            )
        client = LiveClient(
            self, next(self._ids), filt, transport, peer, self.settings.client_queue_frames
        )
        self.clients[client.id] = client
        self._serving.add(client.id)
        self._all_released.clear()
        self._join(client)
        client.send_control(
            message(
                "hello",
                filters=filt.describe(),
                frame_interval_ms=self.settings.frame_interval_ms,
                queue_frames=self.settings.client_queue_frames,
            ),
            self.clock(),
        )
        return client

    def unregister(self, client: LiveClient) -> None:
        if self.clients.pop(client.id, None) is not None:
            self._leave(client)
        client.close("disconnected")

    def release(self, client: LiveClient) -> None:
        """The client's endpoint has finished (close frame sent or given up on)."""
        self.unregister(client)
        self._serving.discard(client.id)
        if not self._serving:
            self._all_released.set()

    async def released(self) -> None:
        """Returns once every endpoint has finished (bound it with ``asyncio.timeout``)."""
        await self._all_released.wait()

    def set_filter(self, client: LiveClient, filt: LiveFilter) -> None:
        if client.id in self.clients:
            self._leave(client)
            client.filter = filt
            self._join(client)
        client.send_control(message("subscribed", filters=filt.describe()), self.clock())

    def _join(self, client: LiveClient) -> None:
        group = self._groups.setdefault(client.filter, [])
        group.append(client)
        if client.filter not in self._selectors:
            self._selectors[client.filter] = Selector(client.filter)

    def _leave(self, client: LiveClient) -> None:
        group = self._groups.get(client.filter)
        if group is not None and client in group:
            group.remove(client)
            if not group:
                del self._groups[client.filter]
                del self._selectors[client.filter]

    # ------------------------------------------------------------------- frames

    def add(self, topic: str, event: Event) -> None:
        """Buffer one bus event for the next frame (ignored while nobody listens)."""
        if not self.clients:
            return
        kind = topic_kind(topic)
        if kind is not None:
            self._pending.append(Entry(kind, topic, event))

    def flush(self, now: float) -> int:
        """Encode and queue this tick's frames; returns how many distinct frames were made."""
        entries, self._pending = self._pending, []
        made = 0
        if entries and self._groups:
            self.seq += 1
            for filt, group in self._groups.items():
                select = self._selectors[filt].select
                items = [b for e in entries if (b := select(e)) is not None]
                if not items:
                    continue
                frame = encode_frame(self.seq, now, items)
                shared = Outgoing(frame.with_dropped(0))
                made += 1
                for client in group:
                    if client.offer(frame, shared, now):
                        self.frames_queued_total += 1
                    else:
                        self.dropped_total += 1
            self.frames_total += made
        self._close_slow(now)
        return made

    def _close_slow(self, now: float) -> None:
        limit = self.settings.slow_client_timeout_s
        for client in list(self.clients.values()):
            since = client.behind_since
            if since is not None and now - since >= limit:
                self.disconnected_slow_total += 1
                reason = f"too slow: {client.dropped_total} frames dropped"
                log.info("live client %s (%s) closed: %s", client.id, client.peer, reason)
                self.clients.pop(client.id, None)
                self._leave(client)
                client.close(reason, CLOSE_TRY_AGAIN_LATER)

    def heartbeat(self, now: float) -> None:
        """A ``ping`` to every client that has had nothing for ``heartbeat_s``."""
        ping = message("ping", ts=now)
        for client in self.clients.values():
            if now - client.last_out >= self.heartbeat_s:
                client.send_control(ping, now)

    def _drain(self) -> None:
        get = self._sub.get_nowait
        while (item := get()) is not None:
            self.add(*item)

    async def run(self) -> None:
        """The frame loop (and the heartbeat beside it) until cancelled or the bus closes."""
        beat = asyncio.get_running_loop().create_task(self._beat(), name="live-heartbeat")
        try:
            await self._frames()
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _frames(self) -> None:
        last = 0.0
        while (item := await self._sub.get()) is not None:
            self.add(*item)
            self._drain()
            # At most one frame per interval; after a quiet spell the first event goes out
            # at once instead of waiting a whole interval.
            wait = last + self.interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                self._drain()
            last = time.monotonic()
            if self._pending:
                self.flush(self.clock())

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s / 3)
            self.heartbeat(self.clock())

    def close(self, reason: str = "node shutting down") -> None:
        """Close every client (their senders end) and stop taking events."""
        self.closed = True
        for client in list(self.clients.values()):
            self.clients.pop(client.id, None)
            self._leave(client)
            client.close(reason, CLOSE_GOING_AWAY)
        self._sub.close()

    # -------------------------------------------------------------------- stats

    def stats(self) -> LiveStats:
        depths = [c.depth() for c in self.clients.values()]
        by: dict[str, int] = {}
        for c in self.clients.values():
            by[c.transport] = by.get(c.transport, 0) + 1
        return LiveStats(
            clients=len(self.clients),
            filters=len(self._groups),
            frames_total=self.frames_total,
            frames_queued_total=self.frames_queued_total,
            dropped_frames_total=self.dropped_total,
            disconnected_slow_total=self.disconnected_slow_total,
            refused_total=self.refused_total,
            queue_depth_max=max(depths, default=0),
            queue_depth_sum=sum(depths),
            bus_dropped_total=getattr(self._sub, "dropped", 0),
            by_transport=by,
        )
