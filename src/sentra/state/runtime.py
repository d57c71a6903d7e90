"""The runtime checkpoint (state/runtime.json).

At start the node reads the previous checkpoint (to learn whether the last run ended
cleanly and to show its last readings at once), then writes ``last_clean_shutdown: false``.
While running it writes a checkpoint every few seconds; a clean stop writes ``true``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from sentra.state.atomic import read_json, write_json_atomic


class RuntimeState(msgspec.Struct, omit_defaults=False):
    last_clean_shutdown: bool = True
    last_checkpoint_at: float = 0.0
    started_at: float = 0.0
    pid: int = 0
    version: str = ""
    last_readings: dict[str, Any] = msgspec.field(default_factory=dict)
    alerts_recent: list[dict[str, Any]] = msgspec.field(default_factory=list)


class Checkpoint:
    """Owns state/runtime.json for one run of the node."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.previous = read_json(path, RuntimeState(), type=RuntimeState)
        # A previous run that started but never stopped cleanly, or whose file was damaged
        # (then we know nothing: say "unclean" only if there was a run at all).
        self.previous_run_unclean = (
            self.previous.started_at > 0 and not self.previous.last_clean_shutdown
        )
        self.current = RuntimeState()

    def start(self, *, now: float, pid: int, version: str) -> None:
        self.current = RuntimeState(
            last_clean_shutdown=False,
            last_checkpoint_at=now,
            started_at=now,
            pid=pid,
            version=version,
            last_readings=self.previous.last_readings,
            alerts_recent=self.previous.alerts_recent,
        )
        write_json_atomic(self.path, self.current)

    def write(
        self,
        *,
        now: float,
        readings: dict[str, Any],
        clean: bool = False,
        alerts: list[dict[str, Any]] | None = None,
    ) -> None:
        """``alerts``: the recent alerts now (None keeps the last ones written)."""
        self.current = msgspec.structs.replace(
            self.current,
            last_clean_shutdown=clean,
            last_checkpoint_at=now,
            last_readings=readings or self.current.last_readings,
            alerts_recent=self.current.alerts_recent if alerts is None else alerts,
        )
        write_json_atomic(self.path, self.current)
