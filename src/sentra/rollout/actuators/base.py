"""The actuator seam: what moves a canary's share of traffic, and the types it speaks.

An actuator is told a :class:`Weights` split (percent of traffic) and makes the traffic layer
route it. It is level-triggered like the controller that drives it: ``apply`` with the split
the layer already routes changes nothing and says so (``changed=False``), so a controller that
re-applies the current step on every tick, or after a restart, never moves traffic twice.

Failures are :class:`ActuatorError` with ``retryable`` telling the controller what to do:
retryable (a socket is down, a server answered 5xx) means "try again next tick"; not
retryable (no such backend, a 403, a config nginx refuses) means "a person must fix the
configuration" and the rollout should stop rather than retry forever.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Weights:
    """Percent of traffic per variant; ``stable + canary + baseline == 100``."""

    stable: int
    canary: int
    baseline: int = 0

    def __post_init__(self) -> None:
        for name in ("stable", "canary", "baseline"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"weight {name} must be an integer percent, got {value!r}")
            if not 0 <= value <= 100:
                raise ValueError(f"weight {name} must be between 0 and 100, got {value}")
        total = self.stable + self.canary + self.baseline
        if total != 100:
            raise ValueError(
                f"weights must add up to 100, got stable={self.stable} canary={self.canary} "
                f"baseline={self.baseline} (sum {total})"
            )

    @classmethod
    def for_canary(cls, canary: int, *, baseline: int = 0) -> Weights:
        """The split of one rollout step: the canary (and baseline) share, the rest stable."""
        return cls(stable=100 - canary - baseline, canary=canary, baseline=baseline)

    @classmethod
    def from_ratio(cls, stable: float, canary: float, baseline: float = 0) -> Weights | None:
        """Percent from relative weights or replica counts (``1:1`` -> 50/50); None if all 0.

        Canary and baseline are rounded half up and stable takes the remainder, so the three
        always add up to 100.
        """
        if min(stable, canary, baseline) < 0:
            raise ValueError("relative weights cannot be negative")
        total = stable + canary + baseline
        if total <= 0:
            return None
        c = int(100 * canary / total + 0.5)
        b = min(int(100 * baseline / total + 0.5), 100 - c)
        return cls(stable=100 - c - b, canary=c, baseline=b)

    @classmethod
    def from_mapping(cls, data: object) -> Weights:
        """Parse ``{"stable": 70, "canary": 30, "baseline": 0}`` (baseline optional).

        Raises ValueError with a message that names what is wrong.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"weights must be a JSON object, got {type(data).__name__}")
        unknown = set(data) - {"stable", "canary", "baseline"}
        if unknown:
            raise ValueError(f"unknown weight keys: {sorted(unknown)}")
        missing = {"stable", "canary"} - set(data)
        if missing:
            raise ValueError(f"missing weight keys: {sorted(missing)}")
        return cls(stable=data["stable"], canary=data["canary"], baseline=data.get("baseline", 0))

    def as_dict(self) -> dict[str, int]:
        return {"stable": self.stable, "canary": self.canary, "baseline": self.baseline}

    def __str__(self) -> str:
        text = f"stable {self.stable}% / canary {self.canary}%"
        return f"{text} / baseline {self.baseline}%" if self.baseline else text


@dataclass(frozen=True)
class ApplyResult:
    """What one ``apply`` did.

    ``changed`` is False when the actuator already routed these weights (idempotent: setting
    30 twice is one change). ``detail`` says what was done, in words, for the audit trail.
    """

    changed: bool
    detail: str


class ActuatorError(Exception):
    """An actuator could not apply or read weights.

    ``retryable``: a later tick may succeed (socket down, 5xx, timeout). Not retryable: the
    configuration is wrong (no such backend, 4xx, nginx rejects the config) and retrying will
    not help until a person fixes it.
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable

    def __repr__(self) -> str:
        return f"ActuatorError({self.message!r}, retryable={self.retryable})"


@runtime_checkable
class Actuator(Protocol):
    """Moves traffic between stable, canary (and baseline) for one rollout."""

    kind: str

    async def apply(self, weights: Weights) -> ApplyResult:
        """Make the traffic layer route ``weights``; idempotent."""
        ...

    async def read(self) -> Weights | None:
        """What the traffic layer routes now, or None when the actuator cannot know."""
        ...

    async def close(self) -> None:
        """Release connections and clients; the actuator is not used afterwards."""
        ...


def require_baseline(weights: Weights, configured: bool, *, what: str) -> None:
    """Refuse a baseline share when the actuator has nowhere to send it (not retryable)."""
    if weights.baseline and not configured:
        raise ActuatorError(
            f"weights give baseline {weights.baseline}% but no baseline {what} is configured; "
            f"add one to the actuator settings or set the baseline weight to 0",
            retryable=False,
        )
