"""The Bus protocol.

Topics are dot-separated (``metrics.host``, ``status.collector``). A pattern matches a topic
segment by segment; ``*`` matches one segment and a trailing ``>`` matches the rest (the
same wildcards NATS uses, so the NATS backend can pass patterns through).

Delivery: without a ``group`` every subscription gets every matching event (the live hub,
the status caches). With a ``group`` (``store``, ``controller``) the subscriptions of that
group share the events, each event going to one member; a member confirms an event when it
asks for the next one (or calls ``ack``), so an event whose handler died is delivered again
(the NATS bus; in process, a group changes nothing).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from sentra.events import Event


class Subscription(Protocol):
    name: str
    dropped: int

    def __aiter__(self) -> AsyncIterator[tuple[str, Event]]: ...

    def depth(self) -> int: ...

    def ack(self) -> None:
        """Confirm the event last handed out: its handler's work is done."""

    def close(self) -> None: ...


class Bus(Protocol):
    def publish(self, topic: str, event: Event) -> None:
        """Hand an event to every matching subscriber; never blocks the producer."""

    def subscribe(
        self, pattern: str, *, name: str, maxsize: int = 1024, group: str | None = None
    ) -> Subscription:
        """A bounded queue of the events whose topic matches ``pattern``."""

    async def close(self) -> None: ...


def topic_matches(pattern: str, topic: str) -> bool:
    pparts = pattern.split(".")
    tparts = topic.split(".")
    for i, p in enumerate(pparts):
        if p == ">":
            return len(tparts) > i
        if i >= len(tparts) or (p != "*" and p != tparts[i]):
            return False
    return len(pparts) == len(tparts)
