"""The in-process bus: one bounded asyncio queue per subscriber.

A full queue drops its *oldest* event and counts the drop, so a slow consumer loses old
news instead of slowing the producer or anybody else.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from typing import Protocol

from sentra.bus.base import topic_matches
from sentra.events import Event

_CLOSED = object()


class _Owner(Protocol):
    """The bus a subscription belongs to (the NATS bus reuses this queue too)."""

    def _remove(self, sub: MemorySubscription) -> None: ...


class MemorySubscription:
    def __init__(self, bus: _Owner, pattern: str, name: str, maxsize: int) -> None:
        self._bus = bus
        self.pattern = pattern
        self.name = name
        self.maxsize = maxsize
        self.dropped = 0
        self.delivered = 0
        self._items: collections.deque[tuple[str, Event] | object] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False

    def _put(self, item: tuple[str, Event] | object) -> None:
        if item is not _CLOSED and len(self._items) >= self.maxsize:
            self._items.popleft()
            self.dropped += 1
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def depth(self) -> int:
        return len(self._items)

    async def get(self) -> tuple[str, Event] | None:
        """The next event, or None once the subscription is closed."""
        while not self._items:
            if self.closed:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._items.popleft()
        if item is _CLOSED:
            return None
        self.delivered += 1
        return item  # type: ignore[return-value]

    def get_nowait(self) -> tuple[str, Event] | None:
        if not self._items or self._items[0] is _CLOSED:
            return None
        self.delivered += 1
        return self._items.popleft()  # type: ignore[return-value]

    async def __aiter__(self) -> AsyncIterator[tuple[str, Event]]:
        while (item := await self.get()) is not None:
            yield item

    def ack(self) -> None:
        """Nothing to confirm in process (see ``Subscription.ack``)."""

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._bus._remove(self)
            self._put(_CLOSED)


class MemoryBus:
    def __init__(self) -> None:
        self._subs: list[MemorySubscription] = []
        self._routes: dict[str, list[MemorySubscription]] = {}
        self.published = 0

    def publish(self, topic: str, event: Event) -> None:
        self.published += 1
        subs = self._routes.get(topic)
        if subs is None:
            subs = [s for s in self._subs if topic_matches(s.pattern, topic)]
            self._routes[topic] = subs
        for sub in subs:
            sub._put((topic, event))

    def subscribe(
        self, pattern: str, *, name: str, maxsize: int = 1024, group: str | None = None
    ) -> MemorySubscription:
        """``group`` is accepted for parity with the NATS bus and changes nothing here: in one
        process every subscription is already the only member of its group."""
        sub = MemorySubscription(self, pattern, name, maxsize)
        self._subs.append(sub)
        self._routes.clear()
        return sub

    def subscriptions(self) -> list[MemorySubscription]:
        return list(self._subs)

    def _remove(self, sub: MemorySubscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
            self._routes.clear()

    async def close(self) -> None:
        for sub in list(self._subs):
            sub.close()
