"""The event bus: producers publish to topics, consumers subscribe with patterns."""

from sentra.bus.base import Bus, Subscription

__all__ = ["Bus", "Subscription"]
