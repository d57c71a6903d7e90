"""The NATS JetStream bus: the same Bus, shared by every node that names the same server.

Publishing never waits for the network. ``publish`` appends to a bounded outbox (a full
outbox drops its oldest event and counts it, like a full MemoryBus queue) and a background
task sends the outbox in windows of JetStream publishes, waiting for their acks; an event
whose ack does not come (server away, reconnecting) goes back to the front of the outbox and
is sent again with the same ``Nats-Msg-Id``, which the stream's duplicate window drops, so
a retry never stores an event twice. nats-py reconnects by itself; the outbox bridges the
gap up to its size.

Topics map to subjects under ``<stream_prefix>.``; every topic family (the first segment:
``metrics``, ``logs``, ...) has its own stream ``<stream_prefix>_<family>`` with its own
limits, created or updated on ``connect``. A topic of another family is not sent (counted
in ``unroutable``).

Subscriptions:

- without a group, every node gets every matching event, live: a plain NATS subscription
  on the subject pattern (one pattern may span every stream, e.g. ``>``; live consumers
  want what happens from now on, not the streams' history). Its bounded queue drops the
  oldest, as in process.
- with a group (``store``, ``controller``), one durable pull consumer per stream the
  pattern reaches, shared by every node: each event goes to one member, which confirms it
  when it asks for the next event (or calls ``ack``). A member that dies without
  confirming has its event delivered again after ``ack_wait_s``; ids of events already
  confirmed in this process (a bounded set) are acknowledged and skipped when they come
  back, and an event a live member is still working on is not handed out twice. The
  group's queue pulls only what fits, so nothing is dropped: back-pressure stays in the
  stream.

Subscribing works before ``connect`` (the composition root builds consumers first); the
sender waits until every subscription made so far is in place before it sends, so an event
published after a ``subscribe`` reaches that subscription.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig

from sentra.bus.codec import EventCodec, UnknownEventType
from sentra.bus.memory import MemorySubscription
from sentra.config import BusSettings
from sentra.events import Event

log = logging.getLogger(__name__)

FAMILIES = ("metrics", "logs", "spans", "rollout", "alerts", "status", "wg", "analysis")
ID_HEADER = "Nats-Msg-Id"
TYPE_HEADER = "Sentra-Type"
WINDOW = 512  # JetStream publishes in flight at once
ACK_TIMEOUT_S = 5.0
DUPLICATE_WINDOW_S = 120.0
SEEN_IDS = 100_000


class BusUnavailable(ConnectionError):
    """The NATS server cannot be reached or has no JetStream; the message says where."""


class NatsSubscription(MemorySubscription):
    """Every matching event, live (no group): the in-process queue, fed by NATS."""

    def __init__(self, bus: NatsBus, pattern: str, name: str, maxsize: int) -> None:
        super().__init__(bus, pattern, name, maxsize)
        self.nats_sub: Any = None


class GroupSubscription(MemorySubscription):
    """One member of a group: events pulled from durable consumers, confirmed one by one."""

    def __init__(self, bus: NatsBus, pattern: str, name: str, maxsize: int, group: str) -> None:
        super().__init__(bus, pattern, name, maxsize)
        self.group = group
        self.nats_bus = bus
        self._msgs: collections.deque[Msg] = collections.deque()
        self._current: Msg | None = None
        self._space = asyncio.Event()
        self.pullers: list[asyncio.Task[None]] = []

    def _put(self, item: tuple[str, Event] | object) -> None:
        # Never drops: the pullers fetch only what fits (an unconfirmed drop would come
        # back after ack_wait anyway).
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _hand_out(self, item: tuple[str, Event] | None) -> tuple[str, Event] | None:
        if item is not None:
            self._current = self._msgs.popleft()
            self._space.set()
        return item

    async def get(self) -> tuple[str, Event] | None:
        self.ack()
        return self._hand_out(await super().get())

    def get_nowait(self) -> tuple[str, Event] | None:
        self.ack()
        return self._hand_out(super().get_nowait())

    def ack(self) -> None:
        if self._current is not None:
            self.nats_bus._confirm(self._current)
            self._current = None

    def room(self) -> int:
        return self.maxsize - len(self._msgs)

    async def wait_for_room(self) -> None:
        while self.room() <= 0 and not self.closed:
            self._space.clear()
            await self._space.wait()

    def close(self) -> None:
        """Stop pulling; events queued but not handed out go back to the group at once, the
        one handed out (its handler may have been stopped half-way) after ``ack_wait_s``."""
        if self.closed:
            return
        for task in self.pullers:
            task.cancel()
        while self._msgs:
            self.nats_bus._give_back(self._msgs.popleft())
        self._current = None
        self._space.set()
        super().close()


class NatsBus:
    def __init__(self, settings: BusSettings, *, client_name: str = "sentra") -> None:
        self.settings = settings
        self.prefix = settings.stream_prefix
        self.client_name = client_name
        self._plen = len(self.prefix) + 1
        self._codec = EventCodec()
        self._outbox: collections.deque[tuple[str, Event, str]] = collections.deque()
        self._id_prefix = uuid.uuid4().hex[:12]
        self._ids = itertools.count(1)
        self._subs: list[MemorySubscription] = []
        self._waiting: list[MemorySubscription] = []  # subscribed before connect
        self._activating: set[asyncio.Task[None]] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self._confirmed: collections.deque[str] = collections.deque()
        self._confirmed_set: set[str] = set()
        self._working: set[str] = set()
        self._wake = asyncio.Event()
        self._sent_all = asyncio.Event()  # the outbox is empty and nothing is in flight
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._sender: asyncio.Task[None] | None = None
        self._unroutable_seen: set[str] = set()
        self._closing = False
        self._away = False  # disconnected, reconnecting
        self.published = 0  # handed to publish
        self.sent = 0  # acknowledged by JetStream
        self.dropped = 0  # oldest dropped from a full outbox
        self.retries = 0  # events sent again after a missing ack
        self.unroutable = 0  # topics of no known family
        self.redelivered_skipped = 0  # group redeliveries of events handled or held here
        self.undecodable = 0

    # ------------------------------------------------------------------ lifecycle

    def stream_name(self, family: str) -> str:
        return f"{self.prefix}_{family}"

    def stream_names(self) -> list[str]:
        return [self.stream_name(f) for f in FAMILIES]

    async def connect(self) -> None:
        """Connect, create or update the streams, start the subscriptions made so far and
        the sender. Raises BusUnavailable when the server cannot be used."""
        s = self.settings
        try:
            self._nc = await nats.connect(
                servers=[u.strip() for u in s.nats_url.split(",") if u.strip()],
                name=self.client_name,
                connect_timeout=5,
                allow_reconnect=True,
                max_reconnect_attempts=2,  # at start: fail soon, with a message
                reconnect_time_wait=0.5,
                error_cb=self._on_error,
                disconnected_cb=self._on_disconnect,
                reconnected_cb=self._on_reconnect,
            )
            self._nc.options["max_reconnect_attempts"] = -1  # once up: never give up
            self._js = self._nc.jetstream(timeout=ACK_TIMEOUT_S)
            for family in FAMILIES:
                await self._ensure_stream(family)
        except (TimeoutError, OSError, nats.errors.Error) as exc:
            if self._nc is not None:
                await self._nc.close()
                self._nc = None
            raise BusUnavailable(
                f"cannot use NATS JetStream at {redact(s.nats_url)} ({type(exc).__name__}: {exc}); "
                'start nats-server with -js, or set [bus] nats_url / backend = "memory"'
            ) from None
        waiting, self._waiting = self._waiting, []
        for sub in waiting:
            self._start(sub)
        await self.ready()
        self._sender = asyncio.get_running_loop().create_task(self._send_loop(), name="nats-bus")

    async def _ensure_stream(self, family: str) -> None:
        assert self._js is not None
        s = self.settings
        config = StreamConfig(
            name=self.stream_name(family),
            subjects=[f"{self.prefix}.{family}", f"{self.prefix}.{family}.>"],
            max_age=s.max_age_s,
            max_bytes=s.max_bytes,
            duplicate_window=min(DUPLICATE_WINDOW_S, s.max_age_s),
        )
        try:
            await self._js.stream_info(config.name or "")
        except nats.js.errors.NotFoundError:
            await self._js.add_stream(config)
        else:
            await self._js.update_stream(config)

    async def ready(self) -> None:
        """Wait until every subscription made so far is in place on the server."""
        while self._activating:
            await asyncio.gather(*list(self._activating), return_exceptions=True)

    async def close(self) -> None:
        """Send what is in the outbox (up to one ack timeout), confirm what the groups
        handed out (an orderly stop: their handlers are done), close everything."""
        self._closing = True
        if self._nc is not None and self._sender is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sent_all.wait(), ACK_TIMEOUT_S)
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        for sub in list(self._subs):
            sub.ack()
            sub.close()
        if self._nc is not None:
            await asyncio.gather(*list(self._background), return_exceptions=True)
            with contextlib.suppress(nats.errors.Error, OSError, TimeoutError):
                if self._nc.is_connected:
                    await self._nc.flush(timeout=2)  # the acks just given
            with contextlib.suppress(nats.errors.Error, OSError):
                await self._nc.close()
            self._nc = None

    # ------------------------------------------------------------------ publish

    def publish(self, topic: str, event: Event) -> None:
        self.published += 1
        family = topic.partition(".")[0]
        if family not in FAMILIES:
            self.unroutable += 1
            if family not in self._unroutable_seen:
                self._unroutable_seen.add(family)
                log.warning("topic %s: no NATS stream for family %r, not sent", topic, family)
            return
        if len(self._outbox) >= self.settings.outbox_size:
            self._outbox.popleft()
            self.dropped += 1
        self._outbox.append((topic, event, f"{self._id_prefix}-{next(self._ids)}"))
        self._sent_all.clear()
        self._wake.set()

    def depth(self) -> int:
        """Events in the outbox, not yet acknowledged by JetStream."""
        return len(self._outbox)

    async def _send_loop(self) -> None:
        backoff = 0.05
        while True:
            if not self._outbox:
                self._sent_all.set()
                self._wake.clear()
                await self._wake.wait()
            await self.ready()
            window = [self._outbox.popleft() for _ in range(min(WINDOW, len(self._outbox)))]
            failed = await self._send(window)
            if failed:
                self.retries += len(failed)
                room = self.settings.outbox_size - len(self._outbox)
                keep = failed[-room:] if room > 0 else []
                self.dropped += len(failed) - len(keep)
                self._outbox.extendleft(reversed(keep))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            else:
                backoff = 0.05

    async def _send(self, window: list[tuple[str, Event, str]]) -> list[tuple[str, Event, str]]:
        """Publish a window and wait for its acks; returns the items to send again.

        No ``wait_stall``: with it nats-py wraps each publish in ``wait_for``, a task and a
        loop turn per event, and its flusher then writes every event on its own (a window
        fits in nats-py's 4,000 pending acks, so the wait it guards never happens)."""
        assert self._js is not None
        futures: list[asyncio.Future[Any]] = []
        try:
            for topic, event, msg_id in window:
                type_name, data = self._codec.encode(event)
                fut = await self._js.publish_async(
                    f"{self.prefix}.{topic}",
                    data,
                    headers={ID_HEADER: msg_id, TYPE_HEADER: type_name},
                )
                futures.append(fut)
        except (nats.errors.Error, OSError) as exc:
            log.debug("NATS publish failed: %s", exc)
        if futures:
            _done, pending = await asyncio.wait(futures, timeout=ACK_TIMEOUT_S)
            for fut in pending:
                fut.cancel()
        failed = []
        for i, item in enumerate(window):
            fut_i = futures[i] if i < len(futures) else None
            if fut_i is None or fut_i.cancelled() or fut_i.exception() is not None:
                failed.append(item)
            else:
                self.sent += 1
        return failed

    # ---------------------------------------------------------------- subscribe

    def subscribe(
        self, pattern: str, *, name: str, maxsize: int = 1024, group: str | None = None
    ) -> MemorySubscription:
        sub: MemorySubscription
        if group is None:
            sub = NatsSubscription(self, pattern, name, maxsize)
        else:
            sub = GroupSubscription(self, pattern, name, maxsize, group)
        self._subs.append(sub)
        if self._nc is None:
            self._waiting.append(sub)
        else:
            self._start(sub)
        return sub

    def subscriptions(self) -> list[MemorySubscription]:
        return list(self._subs)

    def _start(self, sub: MemorySubscription) -> None:
        task = asyncio.get_running_loop().create_task(self._activate(sub))
        self._activating.add(task)
        task.add_done_callback(self._activating.discard)

    async def _activate(self, sub: MemorySubscription) -> None:
        assert self._nc is not None and self._js is not None
        try:
            if isinstance(sub, GroupSubscription):
                for family, subject in self._filters(sub.pattern):
                    psub = await self._js.pull_subscribe(
                        subject,
                        durable=_durable(sub.group, sub.pattern),
                        stream=self.stream_name(family),
                        config=ConsumerConfig(
                            ack_policy=AckPolicy.EXPLICIT,
                            ack_wait=self.settings.ack_wait_s,
                            deliver_policy=DeliverPolicy.NEW,
                        ),
                    )
                    sub.pullers.append(
                        asyncio.get_running_loop().create_task(self._pull(sub, psub))
                    )
            elif isinstance(sub, NatsSubscription):

                async def deliver(msg: Msg) -> None:
                    event = self._decode(msg)
                    if event is not None:
                        sub._put((msg.subject[self._plen :], event))

                sub.nats_sub = await self._nc.subscribe(f"{self.prefix}.{sub.pattern}", cb=deliver)
                await self._nc.flush()  # the server has it: events from other nodes reach it
        except (TimeoutError, nats.errors.Error, OSError):
            log.exception("could not subscribe %s to %s on NATS", sub.name, sub.pattern)

    def _filters(self, pattern: str) -> list[tuple[str, str]]:
        """(family, filter subject) of each stream a group pattern reaches: a consumer
        filters within one stream, so a leading wildcard becomes each family in turn (a
        bare one-segment topic such as ``metrics`` is then not reached by ``>``)."""
        first, _, rest = pattern.partition(".")
        if first == ">":
            return [(f, f"{self.prefix}.{f}.>") for f in FAMILIES]
        if first == "*":
            return [(f, f"{self.prefix}.{f}" + (f".{rest}" if rest else "")) for f in FAMILIES]
        return [(first, f"{self.prefix}.{pattern}")] if first in FAMILIES else []

    async def _pull(self, sub: GroupSubscription, psub: Any) -> None:
        """Idle: wait (long poll) for one event, handed out as soon as it comes. Busy: take
        what is there in bulk, waiting at most 20 ms for more (a bulk fetch otherwise
        waits until its batch is full or its timeout passes: seconds of latency when events
        trickle in)."""
        busy = False
        while not sub.closed:
            await sub.wait_for_room()
            try:
                if busy:
                    msgs = await psub.fetch(min(sub.room(), 256), timeout=0.02)
                else:
                    msgs = await psub.fetch(1, timeout=5.0)
            except (TimeoutError, nats.errors.TimeoutError):
                busy = False
                continue
            except (nats.errors.Error, OSError) as exc:
                log.debug("NATS fetch for %s failed: %s", sub.name, exc)
                await asyncio.sleep(0.5)
                continue
            busy = True
            for msg in msgs:
                self._offer(sub, msg)

    def _offer(self, sub: GroupSubscription, msg: Msg) -> None:
        msg_id = (msg.headers or {}).get(ID_HEADER, "")
        if msg_id in self._confirmed_set:
            self.redelivered_skipped += 1
            self._later(msg.ack())
            return
        if msg_id in self._working:
            self.redelivered_skipped += 1
            return  # a member here is on it: its confirmation settles this copy too
        event = self._decode(msg)
        if event is None:
            self._later(msg.term())
            return
        if msg_id:
            self._working.add(msg_id)
        sub._msgs.append(msg)
        sub._put((msg.subject[self._plen :], event))

    def _decode(self, msg: Msg) -> Event | None:
        try:
            return self._codec.decode((msg.headers or {}).get(TYPE_HEADER, ""), msg.data)
        except (UnknownEventType, msgspec.DecodeError) as exc:
            self.undecodable += 1
            log.warning("undecodable event on %s: %s", msg.subject, exc)
            return None

    def _confirm(self, msg: Msg) -> None:
        msg_id = (msg.headers or {}).get(ID_HEADER, "")
        if msg_id:
            self._working.discard(msg_id)
            self._confirmed.append(msg_id)
            self._confirmed_set.add(msg_id)
            if len(self._confirmed) > SEEN_IDS:
                self._confirmed_set.discard(self._confirmed.popleft())
        self._later(msg.ack())

    def _give_back(self, msg: Msg) -> None:
        self._working.discard((msg.headers or {}).get(ID_HEADER, ""))
        self._later(msg.nak())

    def _later(self, coro: Any) -> None:
        """Run an ack/nak (a buffered write in nats-py) without making the caller wait."""
        task = asyncio.get_running_loop().create_task(_quietly(coro))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _remove(self, sub: MemorySubscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
        if sub in self._waiting:
            self._waiting.remove(sub)
        nats_sub = getattr(sub, "nats_sub", None)
        if nats_sub is not None and self._nc is not None and not self._nc.is_closed:
            self._later(nats_sub.unsubscribe())

    # ------------------------------------------------------------------ callbacks

    async def _on_error(self, exc: Exception) -> None:
        if not self._away:  # once per outage, not once per reconnect attempt
            log.warning("NATS: %s", exc)

    async def _on_disconnect(self) -> None:
        if self._closing or self._away:
            return
        self._away = True
        log.warning("NATS: disconnected from %s; reconnecting", redact(self.settings.nats_url))

    async def _on_reconnect(self) -> None:
        self._away = False
        log.info("NATS: reconnected")


def _durable(group: str, pattern: str) -> str:
    """A consumer name from the group and the pattern (no ``.``, ``*``, ``>`` allowed)."""
    safe = pattern.replace(".", "_").replace("*", "any").replace(">", "all")
    return f"{group}-{safe}"


async def _quietly(coro: Any) -> None:
    with contextlib.suppress(nats.errors.Error, OSError):
        await coro


def redact(urls: str) -> str:
    """``nats_url`` for logs and errors: credentials in a URL (``nats://user:pass@host``)
    become ``***``."""
    out = []
    for url in (u.strip() for u in urls.split(",") if u.strip()):
        parts = urlsplit(url)
        if parts.username or parts.password:
            host = parts.hostname or ""
            netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
            url = urlunsplit(parts._replace(netloc=netloc))
        out.append(url)
    return ",".join(out)
