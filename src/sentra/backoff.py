"""Exponential back-off with full jitter, for anything that retries (agents, SQLite opens)."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Exponential back-off with full jitter (0 .. min(cap, base * 2^n)): 50 agents that
    lost the same server do not come back at the same instant."""

    def __init__(
        self,
        *,
        base: float = 0.25,
        cap: float = 30.0,
        rand: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.base = base
        self.cap = cap
        self.rand = rand
        self.failures = 0

    def next_delay(self, at_least: float = 0.0) -> float:
        ceiling = min(self.cap, self.base * 2**self.failures)
        self.failures = min(self.failures + 1, 32)
        return max(at_least, self.rand(0.0, ceiling))

    def reset(self) -> None:
        self.failures = 0
