"""Events as bytes for a bus that leaves the process: MessagePack, with the type by name.

The event types are msgspec Structs without tags (their JSON is what the API serves, and a
tag field would change it), so the type travels beside the bytes (a NATS header) and picks
the decoder. The union is read from ``sentra.events.Event`` itself, so a type added there
travels without a change here; the WireGuard status structs are published on the bus too
(``wg.status.*``) though they live with their model.
"""

from __future__ import annotations

from typing import Any, get_args

import msgspec

from sentra.events import Event
from sentra.wireguard.model import InterfaceStatus, PeerStatus


class UnknownEventType(ValueError):
    """Bytes whose type name this process does not know (a newer producer?)."""


class EventCodec:
    def __init__(self, types: tuple[type[Any], ...] | None = None) -> None:
        known = types if types is not None else (*get_args(Event), PeerStatus, InterfaceStatus)
        self._decoders = {t.__name__: msgspec.msgpack.Decoder(t) for t in known}
        self._encode = msgspec.msgpack.Encoder().encode

    def encode(self, event: Event) -> tuple[str, bytes]:
        """(type name, bytes) of an event."""
        return type(event).__name__, self._encode(event)

    def decode(self, type_name: str, data: bytes) -> Event:
        """The event back; raises UnknownEventType or msgspec.DecodeError."""
        decoder = self._decoders.get(type_name)
        if decoder is None:
            raise UnknownEventType(f"unknown event type {type_name!r}")
        event: Event = decoder.decode(data)
        return event
