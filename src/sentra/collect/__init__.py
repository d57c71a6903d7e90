"""Collectors: each reads one kind of thing (host, GPU, containers) behind one protocol."""

from sentra.collect.base import Collector, CollectorUnavailable, SampleBuilder

__all__ = ["Collector", "CollectorUnavailable", "SampleBuilder"]
