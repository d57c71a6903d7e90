"""Command: run the user's program to move traffic (a script, ``kubectl``, a vendor CLI).

The argv is a list, never a shell string. ``{stable}``, ``{canary}``, ``{baseline}`` and
``{rollout}`` in any argument are replaced by the weights and the rollout name (other braces
are left alone; in ``read_argv`` the weights are unknown and become empty), and the
program also gets them as ``SENTRA_WEIGHT_STABLE``, ``SENTRA_WEIGHT_CANARY``,
``SENTRA_WEIGHT_BASELINE`` and ``SENTRA_ROLLOUT``. A non-zero exit or a timeout is a
retryable ActuatorError carrying the last lines of stderr; a program that cannot be started
at all is not retryable.

With ``read_argv`` Sentra asks the program what it routes (stdout: JSON weights), which makes
``apply`` idempotent against the real state. Without it the actuator remembers the last split
it applied in this process and does not run the program again for the same split.
"""

from __future__ import annotations

import json

from sentra.rollout.actuators.base import ActuatorError, ApplyResult, Weights
from sentra.rollout.actuators.config import CommandConfig, fill_placeholders
from sentra.rollout.actuators.process import ProgramNotFound, run_argv


class CommandActuator:
    """Runs ``argv`` with the weights; optionally ``read_argv`` to learn the current split."""

    kind = "command"

    def __init__(self, config: CommandConfig, *, name: str) -> None:
        self.config = config
        self.name = name
        self._applied: Weights | None = None

    def _values(self, weights: Weights | None) -> dict[str, str]:
        values = {"rollout": self.name}
        if weights is not None:
            values.update({k: str(v) for k, v in weights.as_dict().items()})
        return values

    def _env(self, weights: Weights | None) -> dict[str, str]:
        env = {**self.config.env, "SENTRA_ROLLOUT": self.name}
        if weights is not None:
            for key, value in weights.as_dict().items():
                env[f"SENTRA_WEIGHT_{key.upper()}"] = str(value)
        return env

    async def apply(self, weights: Weights) -> ApplyResult:
        current = await self.read() if self.config.read_argv else self._applied
        if current == weights:
            return ApplyResult(False, f"{self.config.argv[0]} already routes {weights}")
        values = self._values(weights)
        argv = [fill_placeholders(arg, values) for arg in self.config.argv]
        await self._run(argv, weights, "apply")
        self._applied = weights
        return ApplyResult(True, f"ran {' '.join(argv)} for {weights}")

    async def read(self) -> Weights | None:
        if not self.config.read_argv:
            return self._applied
        values = self._values(None)
        argv = [fill_placeholders(arg, values) for arg in self.config.read_argv]
        stdout = await self._run(argv, None, "read")
        try:
            data = json.loads(stdout)
            if data is None:
                return None
            return Weights.from_mapping(data)
        except ValueError as exc:  # JSONDecodeError is a ValueError
            raise ActuatorError(
                f"read_argv {argv[0]!r} must print JSON weights like "
                f'{{"stable": 70, "canary": 30}} or null; it printed '
                f"{stdout[:200].decode('utf-8', 'replace')!r} ({exc})",
                retryable=False,
            ) from None

    async def close(self) -> None:
        return None

    async def _run(self, argv: list[str], weights: Weights | None, doing: str) -> bytes:
        try:
            result = await run_argv(
                argv,
                timeout_s=self.config.timeout_s,
                env=self._env(weights),
                cwd=self.config.cwd,
            )
        except ProgramNotFound as exc:
            raise ActuatorError(f"{doing}: {exc}", retryable=False) from None
        if not result.ok:
            raise ActuatorError(f"{doing}: {result.describe()}", retryable=True)
        return result.stdout
