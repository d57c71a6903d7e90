"""Builds the bus the settings name (``[bus] backend``); the composition root calls it."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from sentra.bus.memory import MemoryBus
from sentra.config import BusSettings

if TYPE_CHECKING:  # nats-py is imported only by a node whose bus is NATS
    from sentra.bus.nats import NatsBus

    AnyBus: TypeAlias = MemoryBus | NatsBus


def build_bus(settings: BusSettings, *, client_name: str = "sentra") -> AnyBus:
    """An unconnected bus: ``await connect_bus(bus)`` before publishing through NATS."""
    if settings.backend == "nats":
        from sentra.bus.nats import NatsBus

        return NatsBus(settings, client_name=client_name)
    return MemoryBus()


async def connect_bus(bus: AnyBus) -> None:
    """Connect a NATS bus (raises BusUnavailable); nothing to do in process."""
    if not isinstance(bus, MemoryBus):
        await bus.connect()
