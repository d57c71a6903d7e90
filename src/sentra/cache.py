"""The status cache: the latest reading of every source, ready to serve.

The API answers /api/telemetry/summary from here and never from hardware (seed 003's
status cache): the JSON is encoded once per update, not once per request.
"""

from __future__ import annotations

import socket
from typing import Any

import msgspec

from sentra.bus.base import Subscription
from sentra.events import CollectorStatus, Event, Samples


class StatusCache:
    def __init__(self, *, previous_run_unclean: bool, restored: dict[str, Any] | None = None):
        self.hostname = socket.gethostname()
        self.previous_run_unclean = previous_run_unclean
        self._by_source: dict[str, Samples] = {}
        self._status: dict[str, dict[str, Any]] = {}
        self._encoded: bytes | None = None
        self._restored = restored or {}
        self.updates = 0

    def apply(self, topic: str, event: Event) -> None:
        if isinstance(event, Samples) and topic.startswith("metrics.collect."):
            self._by_source[event.source] = event
        elif isinstance(event, CollectorStatus):
            prev = self._status.get(event.source, {})
            entry = msgspec.structs.asdict(event)
            entry["last_ok"] = event.ts if event.state == "ok" else prev.get("last_ok")
            self._status[event.source] = entry
        else:
            return
        self._restored = {}
        self._encoded = None
        self.updates += 1

    def summary(self) -> dict[str, Any]:
        if self._restored and not self._by_source:
            return {
                **self._restored,
                "restored": True,
                "previous_run_unclean": self.previous_run_unclean,
            }
        metrics: dict[str, list[dict[str, Any]]] = {}
        ts = 0.0
        for batch in self._by_source.values():
            ts = max(ts, batch.ts)
            for s in batch.samples:
                metrics.setdefault(s.name, []).append(
                    {"labels": s.labels, "value": s.value, "ts": s.ts}
                )
        collectors = {
            name: {k: v for k, v in st.items() if k != "source"}
            for name, st in sorted(self._status.items())
        }
        return {
            "ts": ts,
            "hostname": self.hostname,
            "previous_run_unclean": self.previous_run_unclean,
            "restored": False,
            "collectors": collectors,
            "metrics": metrics,
        }

    def summary_bytes(self) -> bytes:
        if self._encoded is None:
            self._encoded = msgspec.json.encode(self.summary())
        return self._encoded

    def latest(self) -> list[tuple[str, dict[str, str], float]]:
        """(name, labels, value) of every current reading, for /metrics."""
        return [(s.name, s.labels, s.value) for b in self._by_source.values() for s in b.samples]

    async def run(self, sub: Subscription) -> None:
        async for topic, event in sub:
            self.apply(topic, event)
