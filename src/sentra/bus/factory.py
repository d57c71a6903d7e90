"""Builds the bus the settings name (``[bus] backend``); the composition root calls it."""

from __future__ import annotations

from sentra.bus.memory import MemoryBus
from sentra.bus.nats import NatsBus
from sentra.config import BusSettings

AnyBus = MemoryBus | NatsBus


def build_bus(settings: BusSettings, *, client_name: str = "sentra") -> AnyBus:
    """An unconnected bus: ``await connect_bus(bus)`` before publishing through NATS."""
    if settings.backend == "nats":
        return NatsBus(settings, client_name=client_name)
    return MemoryBus()


async def connect_bus(bus: AnyBus) -> None:
    """Connect a NATS bus (raises BusUnavailable); nothing to do in process."""
    if isinstance(bus, NatsBus):
        await bus.connect()
