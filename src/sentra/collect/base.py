"""The Collector protocol and helpers every collector shares.

A collector's ``collect(now)`` is a blocking call: the sampling loop runs it on the
collector's own worker thread with a time budget, never on the event loop. Inside,
each field is read on its own (``SampleBuilder.field``) so that one unsupported or
failing field is skipped and counted instead of losing the rest of the reading.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol, TypeVar

from sentra.events import Labels, Sample

log = logging.getLogger(__name__)
T = TypeVar("T")


class CollectorUnavailable(Exception):
    """The thing this collector reads does not exist here (no GPU, no Docker): a normal
    state, reported as ``absent`` with this message as the hint."""


class Collector(Protocol):
    name: str

    def collect(self, now: float) -> list[Sample]:
        """Read everything once; ``now`` is the tick's timestamp for every sample."""

    def close(self) -> None: ...


class SampleBuilder:
    """Collects samples of one tick; ``field`` isolates the failure of one reading."""

    def __init__(self, ts: float) -> None:
        self.ts = ts
        self.samples: list[Sample] = []
        self.failures: dict[str, str] = {}

    def add(
        self,
        name: str,
        value: float | None,
        labels: Labels | None = None,
        *,
        digits: int | None = None,
    ) -> None:
        if value is None:
            return
        v = float(value)
        if digits is not None:
            v = round(v, digits)
        self.samples.append(Sample(name, labels or {}, self.ts, v))

    def field(self, what: str, read: Callable[[], T]) -> T | None:
        """Call ``read``; on failure remember why and return None."""
        try:
            return read()
        except Exception as exc:  # one field's failure must not lose the others
            if what not in self.failures:
                log.debug("collector field %s failed: %s", what, exc)
            self.failures[what] = f"{type(exc).__name__}: {exc}"
            return None


def rate(prev: float | None, cur: float | None, dt: float) -> float | None:
    """A per-second rate from two counter readings; None across a counter reset."""
    if prev is None or cur is None or dt <= 0 or cur < prev:
        return None
    return (cur - prev) / dt
