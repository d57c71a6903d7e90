"""The events that travel on the bus.

Pure data: no I/O, no clock. Every producer publishes these; every consumer reads them.
Timestamps are unix seconds (float) at the edges; the store keeps integer milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

Labels = dict[str, str]


class Sample(msgspec.Struct, frozen=True, gc=False):
    """One value of one series at one instant."""

    name: str
    labels: Labels
    ts: float
    value: float


class Samples(msgspec.Struct, frozen=True):
    """A batch of samples taken together by one source (a collector tick, an ingest batch)."""

    source: str
    ts: float
    samples: list[Sample]


class CollectorStatus(msgspec.Struct, frozen=True):
    """How a collector's last tick went.

    state is one of: ``ok`` (fresh readings), ``stale`` (over its time budget; the previous
    readings stand), ``absent`` (the thing it reads does not exist here, e.g. no GPU: a normal
    state), ``error`` (it failed; ``message`` says why and how to fix it).
    """

    source: str
    ts: float
    state: str
    message: str = ""
    duration_ms: float = 0.0
    series: int = 0


Event = Samples | CollectorStatus


def series_key(name: str, labels: Mapping[str, str]) -> str:
    """The canonical identity of a series: ``name{k="v",…}`` with labels sorted by key."""
    if not labels:
        return name
    inner = ",".join(f'{k}="{labels[k]}"' for k in sorted(labels))
    return f"{name}{{{inner}}}"


def parse_label_filter(text: str) -> Labels:
    """Parse ``k=v,k2=v2`` into a dict; raises ValueError with a readable message."""
    out: Labels = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"label filter {part!r} is not of the form key=value")
        out[key.strip()] = value.strip().strip('"')
    return out
