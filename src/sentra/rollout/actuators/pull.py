"""Pull: the traffic layer asks Sentra for the weights instead of Sentra pushing them.

``apply`` only records the split; the API serves it at ``GET /api/v1/rollouts/{name}/weights``
and the controller persists it with the rollout's state, so a restart serves the same split
(pass it back as ``initial``). A proxy, a service mesh filter or a feature-flag SDK polls that
endpoint and routes accordingly.
"""

from __future__ import annotations

from sentra.rollout.actuators.base import ApplyResult, Weights
from sentra.rollout.actuators.config import PullConfig


class PullActuator:
    """Holds the weights a rollout wants; what the API hands to pollers."""

    kind = "pull"

    def __init__(
        self, config: PullConfig | None = None, *, name: str, initial: Weights | None = None
    ) -> None:
        self.config = config
        self.name = name
        self._weights = initial

    @property
    def weights(self) -> Weights | None:
        """The recorded split (None before the first apply)."""
        return self._weights

    async def apply(self, weights: Weights) -> ApplyResult:
        if weights == self._weights:
            return ApplyResult(False, f"pollers of {self.name} already get {weights}")
        self._weights = weights
        return ApplyResult(
            True, f"recorded {weights} for pollers of /api/v1/rollouts/{self.name}/weights"
        )

    async def read(self) -> Weights | None:
        return self._weights

    async def close(self) -> None:
        return None
